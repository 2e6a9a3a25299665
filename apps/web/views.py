"""Server-rendered pages. Like the API views they parse input, call one service or selector,
and shape the output; the create page runs the API's own input serializer and service.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.files.base import ContentFile
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.billing.selectors import credit_packs_active, credits_balance
from apps.content.selectors import content_public_list
from apps.core.exceptions import ApplicationError, NotFound
from apps.generation.exceptions import IdempotencyKeyReused
from apps.generation.models import Generation
from apps.generation.selectors import (
    generation_get,
    generation_list,
    generation_queue_position,
)
from apps.generation.serializers import PARAMS_SERIALIZERS, GenerationCreateInputSerializer
from apps.generation.services import (
    generation_cancel,
    generation_create,
    generation_mark_canceled,
    generation_quote,
)
from apps.personas.selectors import persona_list

from .forms import FORMS, PARAM_NAMES
from .templatetags.web import kind_label

JOBS_PER_PAGE = 12
SHOWCASE_SIZE = 8
DEFAULT_KIND = Generation.Kind.IMAGE_TO_VIDEO


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


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    source = request.POST if request.method == "POST" else request.GET
    active = source.get("kind", DEFAULT_KIND)
    if active not in FORMS:
        active = DEFAULT_KIND
    personas = list(persona_list(user=request.user))
    reused = _owned_generation(request, source.get("reuse")) if source.get("reuse") else None
    if reused is not None and reused.kind in FORMS:
        active = reused.kind
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

    if request.method == "POST":
        form = forms[active] = FORMS[active](request.POST, request.FILES, personas=personas)
        if form.is_valid():
            data = form.api_data()
            if active == Generation.Kind.IMAGE_TO_VIDEO and "image" not in data and reuse_image:
                with reuse_image.input_image.open("rb") as fh:
                    data["image"] = ContentFile(fh.read(), name="reused.png")
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
    if reuse_image or (chosen_persona and chosen_persona.reference_image):
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
        # A fresh key per rendered form: a double submit of one form creates one video.
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "web/create.html", context, status=status)


def _job_row(generation: Generation) -> Generation:
    """Adds what a list card shows: queue place and percent."""
    generation.queue_position = generation_queue_position(generation=generation)
    generation.progress_percent = round(generation.progress * 100)
    return generation


@login_required
@require_safe
def jobs(request):
    page = Paginator(generation_list(user=request.user), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    generations = [_job_row(g) for g in page.object_list]
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
        rest.append((PARAM_LABELS.get(name, name.replace("_", " ")), str(value)))
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


@login_required
@require_safe
def job(request, pk):
    generation = _generation_or_404(request, pk)
    label = generation.prompt or kind_label(generation.kind)
    context = {
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
