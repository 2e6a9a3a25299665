"""Re-run a finished job: a new generation from the old one's recipe and inputs.

The old job's kind, prompt, negative prompt, persona, parameters (the seed among them), the
engine that ran it and, for image-to-video, its stored input image are sent again through
`generation_create`, so the new job gets the same validation, abuse limits, screens, price,
all-or-nothing charge and Idempotency-Key handling as any create. Overrides (`seed`, `params`
merged over the old ones, `prompt`, `engine`) are checked as create checks them; a refusal
leaves nothing behind. The same seed and inputs on the same engine give the same frames.

Storyboards are not re-run here: they are retried in place (`retry/`, storyboards.services).
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from rest_framework import serializers
from rest_framework.exceptions import NotFound

from apps.core.exceptions import ApplicationError, Conflict
from apps.core.storage import media_exists

from .models import Generation
from .serializers import ENGINES_FOR_KIND, PARAMS_SERIALIZERS
from .services import CreateResult, generation_create


class GenerationNotFinished(Conflict):
    default_code = "not_finished"


class StoryboardNotRerunnable(ApplicationError):
    status_code = 400
    default_code = "storyboard_use_retry"


class RerunInputMissing(Conflict):
    default_code = "input_missing"


def rerun_params(*, generation: Generation, params: dict | None = None, seed=None) -> dict:
    """The old job's parameters as a request would send them (derived keys such as
    `final_prompt` and `model` dropped), `params` merged over them and `seed` over both,
    validated by the kind's serializer (a 400 on `params` otherwise)."""
    serializer_class = PARAMS_SERIALIZERS[generation.kind]
    known = serializer_class().fields
    raw = {k: v for k, v in generation.params.items() if k in known}
    raw.update(params or {})
    if seed is not None:
        raw["seed"] = seed
    checked = serializer_class(data=raw)
    if not checked.is_valid():
        raise serializers.ValidationError({"params": checked.errors})
    return dict(checked.validated_data)


def generation_rerun(
    *,
    user,
    generation: Generation,
    seed: int | None = None,
    params: dict | None = None,
    prompt: str | None = None,
    engine: str | None = None,
    idempotency_key: str = "",
) -> CreateResult:
    """A new job for `user` from their own `generation` with the given overrides, charged at
    its own price to `user` (staff, who may read anyone's job, re-run only their own: another
    user's job is a 404 here, as for anyone). Raises 400 `storyboard_use_retry` for a
    storyboard, 409 `not_finished` for a queued or running job, 409 `input_missing` when an
    image-to-video job's stored input is gone, and whatever create raises (400, 402, 429, 503)."""
    if generation.user_id != user.pk:
        raise NotFound("No such generation.")
    if generation.kind == Generation.Kind.STORYBOARD:
        raise StoryboardNotRerunnable(
            "A storyboard is not re-run: retry it in place with POST "
            f"/api/v1/generations/{generation.pk}/retry/ (its missing scenes, then the assembly)."
        )
    if not generation.is_finished:
        raise GenerationNotFinished(
            f"This job is {generation.status}; re-run it once it has finished (or cancel it)."
        )
    kind = generation.kind
    engine = engine or generation.engine
    if engine not in ENGINES_FOR_KIND[kind]:
        raise serializers.ValidationError(
            {"engine": [f"{kind} is made by {', '.join(ENGINES_FOR_KIND[kind])}, not {engine}."]}
        )
    prompt = generation.prompt if prompt is None else prompt
    if kind == Generation.Kind.TEXT_TO_VIDEO and not prompt.strip():
        raise serializers.ValidationError({"prompt": ["A prompt is required for text_to_video."]})
    final_params = rerun_params(generation=generation, params=params, seed=seed)
    image = None
    if kind == Generation.Kind.IMAGE_TO_VIDEO:
        if not generation.input_image or not media_exists(generation.input_image.name):
            raise RerunInputMissing(
                "This job's input image is no longer stored, so it cannot be re-run; "
                "create a new job with the image instead."
            )
        with generation.input_image.open("rb") as fh:
            image = ContentFile(fh.read(), name="input.png")
    return generation_create(
        user=user,
        kind=kind,
        engine=engine,
        prompt=prompt,
        negative_prompt=generation.negative_prompt,
        params=final_params,
        image=image,
        persona=generation.persona,
        idempotency_key=idempotency_key,
    )
