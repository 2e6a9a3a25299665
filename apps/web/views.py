"""Server-rendered pages. Like the API views they parse input, call one service or selector,
and shape the output; the create page runs the API's own input serializer and service.
"""

from __future__ import annotations

import re
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.billing.selectors import credit_packs_active, credits_balance
from apps.content.selectors import content_public_list
from apps.core.exceptions import ApplicationError, NotFound, first_message
from apps.generation.exceptions import IdempotencyKeyReused
from apps.generation.models import Generation
from apps.generation.selectors import (
    generation_get,
    generation_list,
    generation_queue_position,
    generation_queue_standings,
)
from apps.generation.serializers import (
    PARAMS_SERIALIZERS,
    QUALITIES,
    TRANSITIONS,
    GenerationCreateInputSerializer,
)
from apps.generation.services import (
    generation_cancel,
    generation_create,
    generation_mark_canceled,
    generation_quote,
)
from apps.generation.storyboards import (
    MAX_SCENES,
    storyboard_create,
    storyboard_quote,
    storyboard_retry,
    storyboard_scene_retry,
)
from apps.personas.selectors import persona_list

from .forms import FORMS, PARAM_NAMES
from .templatetags.web import kind_label

JOBS_PER_PAGE = 12
SHOWCASE_SIZE = 8
DEFAULT_KIND = Generation.Kind.IMAGE_TO_VIDEO
STORYBOARD = Generation.Kind.STORYBOARD
# What the storyboard editor offers; the rules themselves are the API's (serializers).
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
# "Extend": a succeeded video's last frame, kept for the user until it starts a new clip.
EXTEND_DIR = "extend"


@require_safe
def home(request):
    showcase = list(content_public_list()[:SHOWCASE_SIZE])
    context = {
        "free_credits": settings.FREE_CREDITS,
        "showcase": showcase,
        "packs": credit_packs_active(),
    }
    first_poster = next((item for item in showcase if item.generation.thumbnail), None)
    if first_poster is not None:
        context["og_image"] = request.build_absolute_uri(
            reverse("content:media", args=[first_poster.pk, "thumbnail"])
        )
    return render(request, "web/home.html", context)


def _quote(kind: str, params: dict) -> int | None:
    """What a request with these parameters costs (the same function as the charge)."""
    serializer = PARAMS_SERIALIZERS[kind](data=params)
    if not serializer.is_valid():
        return None
    try:
        return generation_quote(kind=kind, engine="auto", params=dict(serializer.validated_data))[1]
    except ApplicationError:
        return None


def _reusable_params(generation: Generation) -> dict:
    """The job's parameters as a new request would send them (no derived keys)."""
    known = PARAMS_SERIALIZERS[generation.kind]().fields
    return {k: v for k, v in generation.params.items() if k in known}


def _reuse_initial(generation: Generation) -> dict:
    """A create form's initial values from a finished or running job: "Reuse settings"."""
    params = _reusable_params(generation)
    initial = {name: params[name] for name in PARAM_NAMES if name in params}
    if "width" in params and "height" in params:
        initial["size"] = f"{params['width']}x{params['height']}"
    initial["prompt"] = generation.prompt
    initial["negative_prompt"] = generation.negative_prompt
    if generation.persona_id:
        initial["persona"] = str(generation.persona_id)
    return initial


def _owned_generation(request, pk) -> Generation | None:
    try:
        return generation_get(user=request.user, generation_id=pk)
    except (NotFound, ValidationError, ValueError):
        return None


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
        quote = storyboard_quote(scenes=[{"prompt": "scene", "duration": 3.0}]).total
    except ApplicationError:
        quote = None
    return {
        "transitions": [(name, TRANSITION_LABELS.get(name, name)) for name in TRANSITIONS],
        "qualities": [(name, QUALITY_LABELS.get(name, name)) for name in QUALITIES],
        "quality_fps": QUALITY_FPS,
        "max_scenes": MAX_SCENES,
        "quote": quote,
        "personas": list(personas),
        "persona": persona if persona in {str(p.pk) for p in personas} else "",
    }


def _extend_name(user, token: str | None) -> str | None:
    """The stored last frame that "Extend" saved for this user, or None."""
    try:
        key = uuid.UUID(str(token or ""))
    except ValueError:
        return None
    name = f"{EXTEND_DIR}/{user.pk}/{key.hex}.png"
    return name if default_storage.exists(name) else None


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    source = request.POST if request.method == "POST" else request.GET
    active = source.get("kind", DEFAULT_KIND)
    if active not in FORMS and active != STORYBOARD:
        active = DEFAULT_KIND
    personas = list(persona_list(user=request.user))
    reused = _owned_generation(request, source.get("reuse")) if source.get("reuse") else None
    if reused is not None and reused.kind in FORMS:
        active = reused.kind
    # "Extend": the last frame of an earlier video stands in for the upload.
    extend_name = _extend_name(request.user, source.get("extend")) if reused is None else None
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

    if request.method == "POST" and active == STORYBOARD:
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

    quotes = {}
    for kind in forms:
        params = {}
        if kind == active and reused is not None and reused.kind == kind:
            params = _reusable_params(reused)
            params.pop("seed", None)
        quotes[kind] = _quote(kind, params)
    context = {
        "active_kind": active,
        "image_form": image_form,
        "text_form": forms[Generation.Kind.TEXT_TO_VIDEO],
        "quotes": quotes,
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
    return render(request, "web/create.html", context, status=status)


@login_required
@require_safe
def extend_image(request, token):
    """The picture an "Extend" saved, for its owner only (the create page's preview)."""
    name = _extend_name(request.user, token)
    if name is None:
        raise Http404("No such picture.")
    response = FileResponse(default_storage.open(name, "rb"), content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Robots-Tag"] = "noindex"
    return response


@login_required
@require_POST
def job_extend(request, pk):
    """Chain a new image-to-video clip from a finished video's last frame.

    The frame is read with PyAV (workers.storyboard.frames: no torch here) into a stored picture
    of the user's, and the create page opens on Image → Video with that picture chosen.
    """
    generation = _generation_or_404(request, pk)
    video = Path(settings.MEDIA_ROOT) / generation.video.name if generation.video else None
    if generation.status != Generation.Status.SUCCEEDED or video is None or not video.is_file():
        messages.warning(request, "Only a finished video can be extended.")
        return redirect("web:job", pk=generation.pk)
    from workers.storyboard.frames import extract_last_frame

    token = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as folder:
        still = Path(folder) / "last.png"
        try:
            extract_last_frame(video, still)
        except (ValueError, OSError):
            messages.warning(request, "Could not read the last frame of this video.")
            return redirect("web:job", pk=generation.pk)
        with still.open("rb") as fh:
            default_storage.save(f"{EXTEND_DIR}/{request.user.pk}/{token}.png", File(fh))
    query = f"kind=image_to_video&extend={token}"
    if generation.persona_id:
        query += f"&persona={generation.persona_id}"
    return redirect(f"{reverse('web:create')}?{query}")


def _job_rows(generations) -> list[Generation]:
    """Adds what a list card shows: queue place (one estimate per queue) and percent."""
    generations = list(generations)
    standings = generation_queue_standings(generations=generations)
    for generation in generations:
        standing = standings.get(generation.pk)
        generation.queue_position = (
            standing[0] if standing else generation_queue_position(generation=generation)
        )
        generation.progress_percent = round(generation.progress * 100)
    return generations


@login_required
@require_safe
def jobs(request):
    page = Paginator(generation_list(user=request.user), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    generations = _job_rows(page.object_list)
    pending = generation_list(user=request.user).filter(status=Generation.Status.QUEUED).count()
    context = {
        "page": page,
        "generations": generations,
        "pending_count": pending,
        "retry_key": uuid.uuid4().hex,
    }
    return render(request, "web/jobs.html", context)


@login_required
@require_POST
def jobs_cancel_pending(request):
    """Cancel every queued job of the user; a running one is never touched.

    Uses the queued-only transition of the cancel service (what `generation_cancel` does first),
    so a job that starts running between the list and the cancel is left alone instead of being
    asked to stop.
    """
    queued = generation_list(user=request.user).filter(status=Generation.Status.QUEUED)
    canceled = refunded = 0
    for generation in queued:
        if generation_mark_canceled(
            generation_id=generation.pk, from_statuses=[Generation.Status.QUEUED]
        ):
            canceled += 1
            refunded += generation.cost_credits
    if canceled:
        messages.success(
            request,
            f"Canceled {canceled} pending job{pluralize(canceled)}: "
            f"{refunded} credit{pluralize(refunded)} refunded.",
        )
    else:
        messages.info(request, "Nothing was waiting in the queue.")
    return redirect("web:jobs")


@login_required
@require_POST
def job_retry(request, pk):
    """Start the same request again (a failed or canceled job, or one worth repeating)."""
    generation = _generation_or_404(request, pk)
    if generation.kind == Generation.Kind.STORYBOARD:
        return _storyboard_retry(request, generation)
    if generation.kind not in FORMS:
        messages.warning(request, "This kind of job cannot be retried from here.")
        return redirect("web:job", pk=generation.pk)
    data = {
        "kind": generation.kind,
        "engine": generation.engine_requested,
        "prompt": generation.prompt,
        "negative_prompt": generation.negative_prompt,
        "persona": str(generation.persona_id) if generation.persona_id else None,
        "params": _reusable_params(generation),
    }
    if generation.input_image:
        with generation.input_image.open("rb") as fh:
            data["image"] = ContentFile(fh.read(), name="retry.png")
    body = GenerationCreateInputSerializer(data=data, context={"request": request})
    try:
        body.is_valid(raise_exception=True)
        result = generation_create(
            user=request.user,
            idempotency_key=request.POST.get("idempotency_key", "")[:64],
            **body.validated_data,
        )
    except ApplicationError as exc:
        messages.warning(request, f"Could not retry: {exc.message}")
        return redirect("web:job", pk=generation.pk)
    except DRFValidationError:
        messages.warning(request, "Could not retry: the job's settings are no longer valid.")
        return redirect(f"{reverse('web:create')}?reuse={generation.pk}")
    if result.created:
        cost = result.generation.cost_credits
        messages.success(request, f"Started again ({cost} credit{pluralize(cost)}).")
    return redirect("web:job", pk=result.generation.pk)


PARAM_LABELS = {
    "num_frames": "Frames",
    "fps": "Frames per second",
    "motion_strength": "Motion strength",
    "num_inference_steps": "Steps",
    "guidance_scale": "Guidance scale",
    "min_guidance_scale": "Min guidance",
    "max_guidance_scale": "Max guidance",
    "noise_aug_strength": "Noise augmentation",
    "decode_chunk_size": "Decode chunk size",
    "quality": "Quality",
    "enhance_prompt": "Enhance prompt",
    "final_prompt": "Prompt as run",
    "model": "Model",
    # storyboards
    "scene_count": "Scenes",
    "transition": "Transition",
    "transition_duration": "Transition length (s)",
    "chain": "Chained scenes",
    "narration_text": "Narration",
    "assembly_credits": "Assembly credits",
    "story_source": "Story split by",
    "scene_duration": "Seconds per scene",
}


def _recipe(generation: Generation) -> list[tuple[str, str]]:
    """The params as readable (label, value) rows: size first, then by label."""
    params = dict(generation.params)
    params.pop("seed", None)  # shown on its own row
    rows = []
    if "width" in params and "height" in params:
        rows.append(("Size", f"{params.pop('width')} × {params.pop('height')}"))
    rest = []
    for name, value in params.items():
        if isinstance(value, bool):
            value = "yes" if value else "no"
        rest.append((PARAM_LABELS.get(name, name.replace("_", " ").capitalize()), str(value)))
    return rows + sorted(rest)


def _share_url(generation: Generation) -> str:
    """The content item's page (visibility, title, report), once the job made one."""
    try:
        item = generation.content_item
    except ObjectDoesNotExist:
        return ""
    return reverse("content:share", args=[item.pk])


def _generation_or_404(request, pk) -> Generation:
    try:
        return generation_get(user=request.user, generation_id=pk)
    except NotFound:
        raise Http404("No such generation.")


def _scene_rows(generation: Generation) -> list[dict]:
    """A storyboard's scenes as its page lists them (status, clip, what to retry)."""
    if generation.kind != STORYBOARD:
        return []
    rows = []
    for scene in generation.scenes.all():
        done = bool(scene.video) and scene.status == "succeeded"
        rows.append(
            {
                "index": scene.index,
                "number": scene.index + 1,
                "status": scene.status,
                "status_label": scene.get_status_display(),
                "prompt": scene.prompt,
                "duration": scene.duration,
                "transition": scene.transition,
                "error": scene.error,
                "video_url": reverse(
                    "generation-scene-media", kwargs={"pk": generation.pk, "index": scene.index}
                )
                if done
                else "",
                "retryable": generation.status == Generation.Status.FAILED
                and scene.status != "succeeded",
            }
        )
    return rows


@login_required
@require_safe
def job(request, pk):
    generation = _generation_or_404(request, pk)
    label = generation.prompt or kind_label(generation.kind)
    scenes = _scene_rows(generation)
    context = {
        "scenes": scenes,
        "scenes_missing": sum(1 for scene in scenes if scene["status"] != "succeeded"),
        "subtitles_url": reverse("generation-media", args=[generation.pk, "subtitles"])
        if generation.subtitles
        else "",
        "generation": generation,
        "queue_position": generation_queue_position(generation=generation),
        "progress_percent": round(generation.progress * 100),
        "recipe": _recipe(generation),
        "retry_key": uuid.uuid4().hex,
        "share_url": _share_url(generation),
        "page_title": f"{'Video' if generation.is_finished else 'Making'}: {label[:60]}",
        "page_description": f"{kind_label(generation.kind)} generation on AI Lounge.",
    }
    return render(request, "web/job.html", context)


@login_required
@require_POST
def job_scene_retry(request, pk, index):
    """Run a failed storyboard's scene again (charged for the scenes re-run), then re-assemble."""
    generation = _generation_or_404(request, pk)
    before = credits_balance(user=request.user)
    try:
        storyboard_scene_retry(generation=generation, index=index)
    except ApplicationError as exc:
        if exc.status_code == 402:
            messages.warning(request, f"Could not retry scene {index + 1}: {exc.message}")
        else:
            messages.warning(request, f"Scene {index + 1}: {exc.message}")
    else:
        charged = before - credits_balance(user=request.user)
        messages.success(
            request,
            f"Scene {index + 1} is running again: {charged} credit{pluralize(charged)} charged.",
        )
    return redirect("web:job", pk=generation.pk)


def _storyboard_retry(request, generation: Generation):
    """A failed storyboard, in place: the scenes without a clip (charged), else the assembly."""
    before = credits_balance(user=request.user)
    try:
        storyboard_retry(generation=generation)
    except ApplicationError as exc:
        messages.warning(request, f"Could not retry: {exc.message}")
    else:
        charged = before - credits_balance(user=request.user)
        if charged:
            messages.success(
                request, f"Running again: {charged} credit{pluralize(charged)} charged."
            )
        else:
            messages.success(request, "Assembling again, free: the scenes' clips are all there.")
    return redirect("web:job", pk=generation.pk)


@login_required
@require_POST
def job_cancel(request, pk):
    generation = _generation_or_404(request, pk)
    try:
        generation = generation_cancel(generation=generation)
    except ApplicationError as exc:
        messages.warning(request, exc.message)
    else:
        if generation.status == Generation.Status.CANCELED:
            messages.success(request, "Canceled. Your credits were refunded.")
        else:
            messages.info(
                request, "Stopping: the worker stops at its next step and refunds your credits."
            )
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("web:job", pk=generation.pk)


def page_not_found(request, exception=None):
    context = {
        "page_title": "Page not found",
        "page_description": "This page does not exist.",
    }
    return render(request, "404.html", context, status=404)


def server_error(request):
    # No request context: nothing here may touch the database, which may be what failed.
    html = loader.get_template("500.html").render(
        {
            "SITE_NAME": settings.SITE_NAME,
            "page_title": "Something went wrong",
            "page_description": "The server hit an error.",
        }
    )
    return HttpResponseServerError(html)
