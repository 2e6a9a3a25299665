"""The user's jobs: the list, one job's page, and what can be done to a job (cancel, retry,
re-run, retry a storyboard scene)."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist
from django.core.files.base import ContentFile
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError

from apps.billing.selectors import credits_balance
from apps.core.exceptions import ApplicationError
from apps.generation.models import Generation
from apps.generation.rerun import generation_rerun
from apps.generation.selectors import (
    generation_list,
    generation_queue_position,
    generation_queue_standings,
)
from apps.generation.serializers import (
    GenerationCreateInputSerializer,
)
from apps.generation.services import (
    generation_cancel,
    generation_create,
    generation_mark_canceled,
)
from apps.generation.storyboards.services import storyboard_retry, storyboard_scene_retry

from ..forms import FORMS
from ..templatetags.web import kind_label
from .common import generation_or_404, reusable_params
from .create import STORYBOARD

JOBS_PER_PAGE = 12


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
        "rerun_key": uuid.uuid4().hex,
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
    generation = generation_or_404(request, pk)
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
        "params": reusable_params(generation),
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


@login_required
@require_POST
def job_rerun(request, pk):
    """A new job from this finished one's recipe and inputs, the same seed included
    (apps.generation.rerun, as POST /api/v1/generations/{id}/rerun/), charged at its price."""
    generation = generation_or_404(request, pk)
    try:
        result = generation_rerun(
            user=request.user,
            generation=generation,
            idempotency_key=request.POST.get("idempotency_key", "")[:64],
        )
    except ApplicationError as exc:
        messages.warning(request, f"Could not re-run: {exc.message}")
        return redirect("web:job", pk=generation.pk)
    except NotFound:  # staff may see another user's job, but re-run only their own
        raise Http404("No such generation.") from None
    except DRFValidationError:
        messages.warning(request, "Could not re-run: the job's settings are no longer valid.")
        return redirect(f"{reverse('web:create')}?reuse={generation.pk}")
    if result.created:
        cost = result.generation.cost_credits
        messages.success(
            request,
            f"Re-running with seed {result.generation.seed} ({cost} credit{pluralize(cost)}).",
        )
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
        elif value in ("", None, [], {}):
            value = "none"  # an empty cell reads as a value that failed to load
        rest.append((PARAM_LABELS.get(name, name.replace("_", " ").capitalize()), str(value)))
    return rows + sorted(rest)


def _provenance(generation: Generation) -> list[tuple[str, str, str]]:
    """What made the clip (the recipe the worker recorded) as (field, label, value) rows; none
    before the job succeeded. A storyboard's recipe holds what all its scenes share."""
    recipe = generation.recipe or {}
    rows = []
    if recipe.get("model"):
        revision = recipe.get("model_revision")
        model = f"{recipe['model']}@{revision}" if revision else recipe["model"]
        rows.append(("model", "Model as run", model))
    if recipe.get("device"):
        rows.append(("device", "Device", recipe["device"]))
    versions = recipe.get("versions") or {}
    if versions:
        names = (("platform", "AI Lounge"), ("torch", "torch"), ("diffusers", "diffusers"))
        parts = [f"{label} {versions[key]}" for key, label in names if versions.get(key)]
        if versions.get("ffmpeg"):
            parts.append(f"ffmpeg {versions['ffmpeg'].removeprefix('ffmpeg version ')}")
        rows.append(("versions", "Versions", " · ".join(parts)))
    if generation.generation_time is not None:
        rows.append(("generation_time", "Generation time", f"{generation.generation_time:.2f} s"))
    return rows


def _share_url(generation: Generation) -> str:
    """The content item's page (visibility, title, report), once the job made one."""
    try:
        item = generation.content_item
    except ObjectDoesNotExist:
        return ""
    return reverse("content:share", args=[item.pk])


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
    generation = generation_or_404(request, pk)
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
        "provenance": _provenance(generation),
        "retry_key": uuid.uuid4().hex,
        "rerun_key": uuid.uuid4().hex,
        "share_url": _share_url(generation),
        "page_title": f"{'Video' if generation.is_finished else 'Making'}: {label[:60]}",
        "page_description": f"{kind_label(generation.kind)} generation on AI Lounge.",
    }
    return render(request, "web/job.html", context)


@login_required
@require_POST
def job_scene_retry(request, pk, index):
    """Run a failed storyboard's scene again (charged for the scenes re-run), then re-assemble."""
    generation = generation_or_404(request, pk)
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
    generation = generation_or_404(request, pk)
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
