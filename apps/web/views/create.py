"""The create page: Image → Video, Text → Video and the storyboard editor. It runs the API's own
input serializer and services, so a page and a REST client get the same rules and prices."""

from __future__ import annotations

import math
import re
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_http_methods

from apps.billing.selectors import credits_balance
from apps.core.exceptions import ApplicationError, first_message
from apps.core.throttling import CreateThrottle
from apps.generation.engines import engine_choose
from apps.generation.exceptions import IdempotencyKeyReused
from apps.generation.models import Generation
from apps.generation.serializers import (
    PARAMS_SERIALIZERS,
    QUALITIES,
    TRANSITIONS,
    GenerationCreateInputSerializer,
)
from apps.generation.services import (
    generation_create,
    generation_quote,
)
from apps.generation.storyboards.planning import MAX_SCENES, storyboard_quote
from apps.generation.storyboards.services import storyboard_create
from apps.personas.selectors import persona_list

from ..forms import FORMS, PARAM_NAMES
from ..templatetags.web import ENGINE_LABELS
from .common import owned_generation, reusable_params
from .extend import extend_name_for

DEFAULT_KIND = Generation.Kind.IMAGE_TO_VIDEO


STORYBOARD = Generation.Kind.STORYBOARD


QUALITY_FPS = {"draft": 24, "standard": 30, "high": 30, "premium": 60}


QUALITY_LABELS = {
    "draft": "Draft · 480p, 24 fps",
    "standard": "Standard · 720p, 30 fps",
    "high": "High · 1080p, 30 fps",
    "premium": "Premium · 4K, 60 fps",
}


TRANSITION_LABELS = {
    "cut": "Cut",
    "fade": "Fade through black",
    "crossfade": "Crossfade",
    "wipe": "Wipe",
    "slide": "Slide",
    "zoom": "Zoom",
    "dissolve": "Dissolve",
}


SCENE_IMAGE_FIELD = re.compile(r"scene_image_\d{1,2}")


def _quote(kind: str, params: dict) -> tuple[str, int | None]:
    """The engine that would run a request with these parameters, and what it costs (the same
    function as the charge): (engine, credits), credits None when the parameters are invalid."""
    engine = engine_choose(kind=kind, requested="auto")
    serializer = PARAMS_SERIALIZERS[kind](data=params)
    if not serializer.is_valid():
        return engine, None
    try:
        return generation_quote(kind=kind, engine="auto", params=dict(serializer.validated_data))
    except ApplicationError:
        return engine, None


def _reuse_initial(generation: Generation) -> dict:
    """A create form's initial values from a finished or running job: "Reuse settings"."""
    params = reusable_params(generation)
    initial = {name: params[name] for name in PARAM_NAMES if name in params}
    if "width" in params and "height" in params:
        initial["size"] = f"{params['width']}x{params['height']}"
    initial["prompt"] = generation.prompt
    initial["negative_prompt"] = generation.negative_prompt
    if generation.persona_id:
        initial["persona"] = str(generation.persona_id)
    return initial


def _persona_meta(personas) -> dict:
    """For the page's script: which personas carry a reference image, and their defaults."""
    return {
        str(p.pk): {"reference_image": bool(p.reference_image), "defaults": p.defaults or {}}
        for p in personas
    }


def _storyboard_body(request) -> dict:
    """The API's create body from the storyboard editor's form (the editor fills `scenes`)."""
    post = request.POST
    data = {
        "kind": STORYBOARD,
        "engine": "auto",
        "prompt": post.get("prompt", ""),
        "transition": post.get("transition") or "crossfade",
        "quality": post.get("quality") or "standard",
        "chain": "true" if post.get("chain") else "false",
    }
    if post.get("transition_duration", "") != "":
        data["transition_duration"] = post["transition_duration"]
    if post.get("source") == "story":
        data["story"] = post.get("story", "")
        if post.get("scene_duration", "") != "":
            data["scene_duration"] = post["scene_duration"]
    else:
        data["scenes"] = post.get("scenes", "")
        for name, upload in request.FILES.items():
            if SCENE_IMAGE_FIELD.fullmatch(name):
                data[name] = upload
    if post.get("persona"):
        data["persona"] = post["persona"]
    if post.get("narration_text", "").strip():
        data["narration_text"] = post["narration_text"]
    if "narration_audio" in request.FILES:
        data["narration_audio"] = request.FILES["narration_audio"]
    return data


def _storyboard_submit(request) -> tuple[Generation | None, str, int]:
    """Create the storyboard as the API does: (generation, "", 201) or (None, detail, status).

    The detail is the API's own message for the same input; nothing is written on an error.
    """
    body = GenerationCreateInputSerializer(
        data=_storyboard_body(request), context={"request": request}
    )
    if not body.is_valid():
        return None, first_message(body.errors) or "Invalid input.", 400
    fields = dict(body.validated_data)
    del fields["kind"]
    try:
        result = storyboard_create(
            user=request.user,
            idempotency_key=request.POST.get("idempotency_key", "")[:64],
            **fields,
        )
    except IdempotencyKeyReused as exc:
        return (
            None,
            "This form already started a storyboard. Submit again to start another one.",
            exc.status_code,
        )
    except ApplicationError as exc:
        return None, exc.message, exc.status_code
    if result.created:
        cost = result.generation.cost_credits
        messages.success(request, f"Your storyboard is queued ({cost} credit{pluralize(cost)}).")
    return result.generation, "", 201


def _storyboard_context(*, personas=(), persona: str = "") -> dict:
    """The editor's choices and the price of its starting draft (one 3 s scene)."""
    try:
        plan = storyboard_quote(scenes=[{"prompt": "scene", "duration": 3.0}])
    except ApplicationError:
        quote, engine = None, engine_choose(kind=Generation.Kind.TEXT_TO_VIDEO, requested="auto")
    else:
        engines = {scene.engine for scene in plan.scenes}
        quote, engine = plan.total, engines.pop() if len(engines) == 1 else "auto"
    return {
        "transitions": [(name, TRANSITION_LABELS.get(name, name)) for name in TRANSITIONS],
        "qualities": [(name, QUALITY_LABELS.get(name, name)) for name in QUALITIES],
        "quality_fps": QUALITY_FPS,
        "max_scenes": MAX_SCENES,
        "quote": quote,
        "engine": engine,
        "personas": list(personas),
        "persona": persona if persona in {str(p.pk) for p in personas} else "",
    }


def _create_throttled(request) -> int | None:
    """Seconds to wait when this user is over THROTTLE_RATE_CREATE, else None.

    The page counts in the API's own `create` throttle (same Redis counter, same user), so a
    person cannot go past the limit by switching between the page and the API.
    """
    throttle = CreateThrottle()
    if throttle.allow_request(request, None):
        return None
    return math.ceil(throttle.wait() or 1)


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    source = request.POST if request.method == "POST" else request.GET
    active = source.get("kind", DEFAULT_KIND)
    if active not in FORMS and active != STORYBOARD:
        active = DEFAULT_KIND
    personas = list(persona_list(user=request.user))
    reused = owned_generation(request, source.get("reuse")) if source.get("reuse") else None
    if reused is not None and reused.kind in FORMS:
        active = reused.kind
    # "Extend": the last frame of an earlier video stands in for the upload.
    extend_name = extend_name_for(request.user, source.get("extend")) if reused is None else None
    if extend_name:
        active = Generation.Kind.IMAGE_TO_VIDEO
    initial = {}
    if reused is not None and reused.kind in FORMS:
        initial = _reuse_initial(reused)
    elif source.get("persona") in {str(p.pk) for p in personas}:
        initial = {"persona": source["persona"]}
    forms = {
        kind: form_class(initial=initial if kind == active else None, personas=personas)
        for kind, form_class in FORMS.items()
    }
    # Reusing an image-to-video job: its stored picture stands in for an upload.
    reuse_image = reused if reused is not None and reused.input_image else None
    status = 200
    storyboard_error = ""

    retry_after = _create_throttled(request) if request.method == "POST" else None
    if retry_after is not None:
        throttled = (
            f"You are starting videos faster than this site allows "
            f"({settings.THROTTLE_RATE_CREATE}). Try again in {retry_after} s; nothing was charged."
        )
        status = 429
        if active == STORYBOARD:
            storyboard_error = throttled
        else:
            form = forms[active] = FORMS[active](request.POST, request.FILES, personas=personas)
            form.is_valid()
            form.add_error(None, throttled)
    elif request.method == "POST" and active == STORYBOARD:
        generation, storyboard_error, status = _storyboard_submit(request)
        if generation is not None:
            return redirect("web:job", pk=generation.pk)
    elif request.method == "POST":
        form = forms[active] = FORMS[active](request.POST, request.FILES, personas=personas)
        if form.is_valid():
            data = form.api_data()
            if active == Generation.Kind.IMAGE_TO_VIDEO and "image" not in data:
                if reuse_image:
                    with reuse_image.input_image.open("rb") as fh:
                        data["image"] = ContentFile(fh.read(), name="reused.png")
                elif extend_name:
                    with default_storage.open(extend_name, "rb") as fh:
                        data["image"] = ContentFile(fh.read(), name="extended.png")
            body = GenerationCreateInputSerializer(data=data, context={"request": request})
            if body.is_valid():
                try:
                    result = generation_create(
                        user=request.user,
                        idempotency_key=request.POST.get("idempotency_key", "")[:64],
                        **body.validated_data,
                    )
                except IdempotencyKeyReused as exc:
                    # A page restored with Back, edited and sent again: its key already made a
                    # video. The re-rendered form has a fresh key; the person confirms.
                    form.add_error(
                        None,
                        "This form already started a video. Check your inputs and submit again "
                        "to start another one.",
                    )
                    status = exc.status_code
                except ApplicationError as exc:
                    form.add_service_error(exc.message)
                    status = exc.status_code
                else:
                    if result.created:
                        messages.success(
                            request,
                            f"Your video is queued ({result.generation.cost_credits} "
                            f"credit{'s' if result.generation.cost_credits != 1 else ''}).",
                        )
                    return redirect("web:job", pk=result.generation.pk)
            else:
                form.add_api_errors(body.errors)
                status = 400
        else:
            status = 400

    image_form = forms[Generation.Kind.IMAGE_TO_VIDEO]
    chosen = image_form["persona"].value()
    chosen_persona = image_form.personas.get(str(chosen)) if chosen else None
    if reuse_image or extend_name or (chosen_persona and chosen_persona.reference_image):
        image_form.fields["image"].widget.attrs.pop("required", None)

    quotes, engines = {}, {}
    for kind in forms:
        params = {}
        if kind == active and reused is not None and reused.kind == kind:
            params = reusable_params(reused)
            params.pop("seed", None)
        engines[kind], quotes[kind] = _quote(kind, params)
    context = {
        "active_kind": active,
        "image_form": image_form,
        "text_form": forms[Generation.Kind.TEXT_TO_VIDEO],
        "quotes": quotes,
        "engines": engines,
        "engine_labels": ENGINE_LABELS,
        "balance": credits_balance(user=request.user),
        "persona_meta": _persona_meta(personas),
        "reused": reused,
        "reuse_image": reuse_image,
        "extend_token": str(uuid.UUID(Path(extend_name).stem)) if extend_name else "",
        "storyboard": _storyboard_context(personas=personas, persona=source.get("persona", "")),
        "storyboard_error": storyboard_error,
        # A fresh key per rendered form: a double submit of one form creates one video.
        "idempotency_key": uuid.uuid4().hex,
    }
    response = render(request, "web/create.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response
