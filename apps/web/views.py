"""Server-rendered pages. Like the API views they parse input, call one service or selector,
and shape the output; the create page runs the API's own input serializer and service.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseServerError
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from apps.core.exceptions import ApplicationError, NotFound
from apps.generation.exceptions import IdempotencyKeyReused
from apps.generation.models import Generation
from apps.generation.selectors import (
    generation_get,
    generation_list,
    generation_queue_position,
)
from apps.generation.serializers import PARAMS_SERIALIZERS, GenerationCreateInputSerializer
from apps.generation.services import generation_cancel, generation_create, generation_quote

from .forms import FORMS
from .templatetags.web import kind_label

JOBS_PER_PAGE = 12
DEFAULT_KIND = Generation.Kind.IMAGE_TO_VIDEO


@require_safe
def home(request):
    return render(request, "web/home.html", {"free_credits": settings.FREE_CREDITS})


def _default_quote(kind: str) -> int | None:
    """What a request with the default parameters costs (the same function as the charge)."""
    params = PARAMS_SERIALIZERS[kind](data={})
    params.is_valid(raise_exception=True)
    try:
        return generation_quote(kind=kind, engine="auto", params=dict(params.validated_data))[1]
    except ApplicationError:
        return None


@login_required
@require_http_methods(["GET", "POST"])
def create(request):
    source = request.POST if request.method == "POST" else request.GET
    active = source.get("kind", DEFAULT_KIND)
    if active not in FORMS:
        active = DEFAULT_KIND
    forms = {kind: form_class() for kind, form_class in FORMS.items()}
    status = 200

    if request.method == "POST":
        form = forms[active] = FORMS[active](request.POST, request.FILES)
        if form.is_valid():
            body = GenerationCreateInputSerializer(
                data=form.api_data(), context={"request": request}
            )
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

    context = {
        "active_kind": active,
        "image_form": forms[Generation.Kind.IMAGE_TO_VIDEO],
        "text_form": forms[Generation.Kind.TEXT_TO_VIDEO],
        "quotes": {kind: _default_quote(kind) for kind in FORMS},
        # A fresh key per rendered form: a double submit of one form creates one video.
        "idempotency_key": uuid.uuid4().hex,
    }
    return render(request, "web/create.html", context, status=status)


@login_required
@require_safe
def jobs(request):
    page = Paginator(generation_list(user=request.user), JOBS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "web/jobs.html", {"page": page, "generations": page.object_list})


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
