"""What users do to storyboards: create (validate, price, charge once, write the rows) and retry
(run again what has no output). The running side (scenes, assembly) is in `running`."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.billing.exceptions import InsufficientCredits
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_spend
from apps.core.exceptions import Conflict, NotFound
from apps.core.image_screen import image_screen
from apps.core.screening import prompt_screen
from apps.core.uploads import image_ingest

from ..charges import scene_reference
from ..dispatch import STORYBOARD_ASSEMBLE, new_task_id, task_send
from ..events import generation_broadcast
from ..exceptions import InvalidGenerationInput, QueueUnavailable
from ..models import Generation, StoryboardScene
from ..progress import SCENES_SHARE
from ..services import (
    ASSEMBLY_QUEUED,
    CreateResult,
    _fingerprint,
    _idempotent_replay,
    generation_admit,
    generation_mark_failed,
)
from .planning import DEFAULT_SCENE_SECONDS, storyboard_plan
from .running import storyboard_enqueue

logger = logging.getLogger(__name__)


Status = Generation.Status


SceneStatus = StoryboardScene.Status


STORY_MAX_SCENES = 5


NARRATION_MAX_BYTES = getattr(settings, "STORYBOARD_NARRATION_MAX_BYTES", 20 * 1024 * 1024)


NARRATION_MAX_SECONDS = getattr(settings, "STORYBOARD_NARRATION_MAX_SECONDS", 300.0)


TTS_MISSING = (
    "narration_text: text narration needs espeak-ng, which is not installed on this server; "
    "upload the narration as an audio file (narration_audio: WAV, MP3, M4A or OGG) instead."
)


class StoryboardNotRetryable(Conflict):
    default_code = "not_retryable"


def _story_scenes(*, story: str, duration: float) -> tuple[list[dict], str, str]:
    from workers.storyboard.story import split_story

    split = split_story(
        story,
        api_key=settings.GEMINI_API_KEY or None,
        base_url=settings.GEMINI_BASE_URL or None,
        model=settings.GEMINI_MODEL,
        max_scenes=STORY_MAX_SCENES,
        retries=settings.GEMINI_RETRY_ATTEMPTS,
    )
    scenes = [
        {"prompt": draft.visual_prompt, "duration": duration, "text": draft.text}
        for draft in split.scenes
    ]
    return scenes, split.source, split.error


def _file_digest(upload) -> str | None:
    if upload is None:
        return None
    upload.seek(0)
    digest = hashlib.sha256(upload.read()).hexdigest()
    upload.seek(0)
    return digest


def _validated_narration(upload) -> tuple[str, str]:
    """Check an uploaded narration by decoding it; returns (temporary path, extension)."""
    from workers.storyboard.audio import validate_narration

    size = getattr(upload, "size", None) or 0
    if size > NARRATION_MAX_BYTES:
        limit = NARRATION_MAX_BYTES / 1_000_000
        raise InvalidGenerationInput(
            f"narration_audio: the file is larger than {limit:.0f} MB.", code="invalid_audio"
        )
    fd, tmp = tempfile.mkstemp(prefix="narration-", suffix=".upload")
    try:
        with os.fdopen(fd, "wb") as out:
            upload.seek(0)
            for chunk in upload.chunks() if hasattr(upload, "chunks") else [upload.read()]:
                out.write(chunk)
        try:
            info = validate_narration(
                tmp, max_bytes=NARRATION_MAX_BYTES, max_seconds=NARRATION_MAX_SECONDS
            )
        except ValueError as exc:
            raise InvalidGenerationInput(f"narration_audio: {exc}.", code="invalid_audio") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp, info.container


def storyboard_create(
    *,
    user,
    engine: str = "auto",
    prompt: str = "",
    negative_prompt: str = "",
    params: dict | None = None,
    persona=None,
    scenes: list[dict] | None = None,
    story: str = "",
    scene_duration: float = DEFAULT_SCENE_SECONDS,
    transition: str = "crossfade",
    transition_duration: float = 0.5,
    quality: str = "standard",
    chain: bool = False,
    narration_text: str = "",
    narration_audio=None,
    idempotency_key: str = "",
    webhook: str = "",
    webhook_events_filter: list[str] | None = None,
):
    """Validate, price, charge once and write the storyboard and its scenes in one transaction.

    Nothing is written (no row, no file, no charge) when anything is refused. The scene tasks
    are enqueued once the transaction commits.
    """
    from workers.storyboard.audio import tts_available

    scenes = [dict(s) for s in (scenes or [])]
    persona_text = (persona.name, persona.description, persona.style) if persona else ()
    prompt_screen(
        text="\n".join(
            (
                prompt,
                negative_prompt,
                story,
                narration_text,
                *(s.get("prompt") or "" for s in scenes),
                *persona_text,
            )
        )
    )
    fingerprint = _fingerprint(
        kind=Generation.Kind.STORYBOARD,
        engine=engine,
        prompt=prompt,
        negative_prompt=negative_prompt,
        params={
            "params": params or {},
            "scenes": [
                {**s, "image": _file_digest(s.get("image")) if s.get("image") else None}
                for s in scenes
            ],
            "story": story,
            "scene_duration": scene_duration,
            "transition": transition,
            "transition_duration": transition_duration,
            "quality": quality,
            "chain": chain,
            "narration_text": narration_text,
            "narration_audio": _file_digest(narration_audio),
            "persona": str(persona.pk) if persona else None,
        },
        image_bytes=None,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
    )
    if idempotency_key:
        existing = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
        if existing:
            return CreateResult(existing, created=False)
    if narration_text and narration_audio is None and not tts_available():
        raise InvalidGenerationInput(TTS_MISSING, code="tts_unavailable")

    story_source, story_error, scene_texts = "", "", []
    if story:
        scenes, story_source, story_error = _story_scenes(story=story, duration=scene_duration)
        prompt_screen(text="\n".join(s["prompt"] for s in scenes))
        scene_texts = [s.pop("text") for s in scenes]
    plan = storyboard_plan(
        scenes=scenes,
        engine=engine,
        params=params,
        chain=chain,
        persona=persona,
        transition=transition,
    )
    # Uploads are checked before anything is written.
    ingested = {
        p.index: image_ingest(p.image, field=f"scene_image_{p.index}")
        for p in plan.scenes
        if p.image is not None
    }
    if chain and 0 not in ingested and plan.scenes[0].kind == Generation.Kind.IMAGE_TO_VIDEO:
        with persona.reference_image.open("rb") as fh:
            ingested[0] = image_ingest(
                ContentFile(fh.read(), name="reference.png"), field="persona"
            )
    for index, picture in ingested.items():
        image_screen(data=picture.content.read(), field=f"scene_image_{index}")
        picture.content.seek(0)
    narration_tmp, narration_ext = (None, "")
    if narration_audio is not None:
        narration_tmp, narration_ext = _validated_narration(narration_audio)

    engines = {p.engine for p in plan.scenes}
    storyboard_params = {
        "quality": quality,
        "transition": transition,
        "transition_duration": transition_duration,
        "chain": chain,
        "scene_count": len(plan.scenes),
        "assembly_credits": plan.assembly,
        "narration_text": narration_text,
    }
    if story:
        storyboard_params.update(
            story=story, story_source=story_source, story_scene_texts=scene_texts
        )
        if story_error:
            storyboard_params["story_error"] = story_error[:500]
    seed = (params or {}).get("seed") or plan.scenes[0].params.get("seed", 0)
    generation = Generation(
        user=user,
        kind=Generation.Kind.STORYBOARD,
        persona=persona,
        engine_requested=engine,
        engine=engines.pop() if len(engines) == 1 else "auto",
        queue="cpu",
        prompt=prompt.strip(),
        negative_prompt=negative_prompt.strip(),
        params=storyboard_params,
        seed=seed,
        cost_credits=plan.total,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        webhook=webhook,
        webhook_events_filter=list(webhook_events_filter or []) if webhook else [],
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
            generation_admit(user=user)  # a storyboard is one job
            try:
                credits_spend(
                    user=user,
                    amount=plan.total,
                    reference=generation.spend_reference,
                    note=f"storyboard ({len(plan.scenes)} scenes)",
                )
            except InsufficientCredits:
                raise InsufficientCredits(
                    required=plan.total, balance=credits_balance(user=user)
                ) from None
            if narration_tmp:
                name = f"uploads/{user.pk}/{uuid.uuid4().hex}.{narration_ext}"
                with open(narration_tmp, "rb") as fh:
                    generation.narration_audio.save(name, File(fh), save=False)
                stored.append(generation.narration_audio.name)
            generation.save(force_insert=True)
            for p in plan.scenes:
                scene = StoryboardScene(
                    generation=generation,
                    index=p.index,
                    kind=p.kind,
                    engine=p.engine,
                    prompt=p.prompt,
                    duration=p.duration,
                    transition=p.transition,
                    params=p.params,
                    cost_credits=p.cost,
                    charge_reference=scene_reference(generation_id=generation.pk, index=p.index),
                )
                if p.index in ingested:
                    scene.image.save("scene.png", ingested[p.index].content, save=False)
                    stored.append(scene.image.name)
                scene.save(force_insert=True)
            # After the commit; a broker that refuses it raises QueueUnavailable out of here.
            transaction.on_commit(
                lambda: storyboard_enqueue(generation_id=generation.pk, created=True)
            )
    except QueueUnavailable:
        raise  # committed, then failed and refunded: the inputs stay with the failed job
    except IntegrityError:
        _delete_stored(stored)
        if idempotency_key:
            existing = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
            if existing:
                return CreateResult(existing, created=False)
        raise
    except BaseException:
        _delete_stored(stored)
        raise
    finally:
        if narration_tmp:
            Path(narration_tmp).unlink(missing_ok=True)
    return CreateResult(generation, created=True)


def _delete_stored(names: list[str]) -> None:
    for name in names:
        default_storage.delete(name)


def storyboard_scene_retry(*, generation: Generation, index: int) -> Generation:
    """Run a failed storyboard's failed scene again (and any other scene without a clip), then
    re-assemble. Charged for the scenes that run, each under its own retry reference; 402 when
    the credits are short, and then nothing changes."""
    return storyboard_retry(generation=generation, index=index)


def storyboard_retry(*, generation: Generation, index: int | None = None) -> Generation:
    """Finish a failed storyboard: run again every scene without a clip (charged for those
    scenes only), then assemble. When every clip is there (the assembly failed), only the
    assembly runs again, free: its price was refunded when it failed and is not charged twice.
    With ``index``, that scene must be one without its clip."""
    if generation.kind != Generation.Kind.STORYBOARD:
        raise StoryboardNotRetryable(
            "Only storyboards are retried in place; create the generation again instead."
        )
    if index is not None:
        scene = generation.scenes.filter(index=index).first()
        if scene is None:
            raise NotFound("No such scene.")
    if generation.status != Status.FAILED:
        raise StoryboardNotRetryable(
            f"Only a failed storyboard can be retried; this one has {generation.status}."
        )
    if index is not None and scene.status == SceneStatus.SUCCEEDED:
        raise StoryboardNotRetryable(f"Scene {index + 1} already has its clip.")
    scenes_all = list(generation.scenes.all())
    to_run = [s for s in scenes_all if s.status != SceneStatus.SUCCEEDED]
    now = timezone.now()
    if not to_run:
        return _assembly_retry(generation=generation, now=now)
    with transaction.atomic():
        generation_admit(user=generation.user)  # queued again: one more active job
        reopened = Generation.objects.filter(pk=generation.pk, status=Status.FAILED).update(
            status=Status.QUEUED,
            stage="queued",
            progress=SCENES_SHARE * (len(scenes_all) - len(to_run)) / max(1, len(scenes_all)),
            error="",
            finished_at=None,
            cancel_requested=False,
            updated_at=now,
        )
        if not reopened:
            raise StoryboardNotRetryable("This storyboard changed meanwhile; reload it.")
        extra = 0
        for s in to_run:
            retry = s.retries + 1
            reference = scene_reference(generation_id=generation.pk, index=s.index, retry=retry)
            credits_spend(
                user=generation.user,
                amount=s.cost_credits,
                reference=reference,
                note=f"storyboard scene {s.index + 1} retry",
            )
            extra += s.cost_credits
            StoryboardScene.objects.filter(pk=s.pk).update(
                status=SceneStatus.QUEUED,
                retries=retry,
                attempts=0,
                progress=0.0,
                error="",
                video="",
                charge_reference=reference,
                started_at=None,
                finished_at=None,
                updated_at=now,
            )
        Generation.objects.filter(pk=generation.pk).update(cost_credits=F("cost_credits") + extra)
        transaction.on_commit(lambda: storyboard_enqueue(generation_id=generation.pk))
    generation.refresh_from_db()
    return generation


def _assembly_retry(*, generation: Generation, now) -> Generation:
    """Every clip is there: back to running with the assembly queued, nothing charged."""
    task_id = new_task_id()
    with transaction.atomic():
        reopened = Generation.objects.filter(pk=generation.pk, status=Status.FAILED).update(
            status=Status.RUNNING,
            stage=ASSEMBLY_QUEUED,
            progress=SCENES_SHARE,
            error="",
            finished_at=None,
            cancel_requested=False,
            heartbeat_at=now,
            updated_at=now,
            task_id=task_id,
            enqueued_at=now,
        )
        if not reopened:
            raise StoryboardNotRetryable("This storyboard changed meanwhile; reload it.")

        def send() -> None:
            try:
                task_send(STORYBOARD_ASSEMBLE, str(generation.pk), queue="cpu", task_id=task_id)
            except Exception:
                logger.exception("Could not enqueue the assembly of %s", generation.pk)
                generation_mark_failed(
                    generation_id=generation.pk,
                    error="The job queue is unavailable; try again shortly.",
                )
                return
            generation_broadcast(generation_id=generation.pk)

        transaction.on_commit(send)
    generation.refresh_from_db()
    return generation
