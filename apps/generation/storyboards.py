"""Storyboards: a parent Generation (kind `storyboard`) and one StoryboardScene per scene.

create (validate, price, charge once, write the rows) → scene tasks (in parallel, or one after
another when chained) → one assembly task on the `cpu` queue → succeeded. Like the rest of
apps.generation, every state change is a conditional UPDATE whose row count says who won.

Money: the storyboard is charged once at create (`generation:<id>`, the sum of the scene
prices plus assembly). Each part that does not produce its output is refunded on its own,
under a reference unique to it, so each refund happens at most once:
`storyboard:<id>:scene:<i>` per scene, `storyboard:<id>:assembly` for the assembly. A scene
retry is its own spend, `storyboard:<id>:scene:<i>:retry:<n>`, refunded under that name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from apps.billing.exceptions import InsufficientCredits
from apps.billing.models import LedgerEntry
from apps.billing.pricing import price_generation, price_storyboard
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_refund_spend, credits_spend, ledger_apply
from apps.content.services import prompt_screen
from apps.core.exceptions import ApplicationError, Conflict, NotFound
from apps.core.uploads import image_ingest

from .engines import engine_choose, engine_queue
from .events import generation_broadcast
from .exceptions import InvalidGenerationInput
from .models import Generation, StoryboardScene
from .progress import SCENES_SHARE
from .services import ASSEMBLY_QUEUED, CreateResult, _fingerprint, _idempotent_replay

logger = logging.getLogger(__name__)
Status = Generation.Status
SceneStatus = StoryboardScene.Status

MAX_SCENES = 10
STORY_MAX_SCENES = 5
SCENE_MAX_ATTEMPTS = 2  # a failing scene is run once more before the storyboard fails
DEFAULT_SCENE_SECONDS = 3.0
ASSEMBLING = "assembling"
NARRATION_MAX_BYTES = getattr(settings, "STORYBOARD_NARRATION_MAX_BYTES", 20 * 1024 * 1024)
NARRATION_MAX_SECONDS = getattr(settings, "STORYBOARD_NARRATION_MAX_SECONDS", 300.0)
TTS_MISSING = (
    "narration_text: text narration needs espeak-ng, which is not installed on this server; "
    "upload the narration as an audio file (narration_audio: WAV, MP3, M4A or OGG) instead."
)


class StoryboardNotRetryable(Conflict):
    default_code = "not_retryable"


def scene_reference(*, generation_id, index: int, retry: int = 0) -> str:
    base = f"storyboard:{generation_id}:scene:{index}"
    return f"{base}:retry:{retry}" if retry else base


def assembly_reference(*, generation_id) -> str:
    return f"storyboard:{generation_id}:assembly"


# --- planning: the one place that turns scenes into jobs and prices them -----------------------


@dataclass
class ScenePlan:
    index: int
    kind: str
    engine: str
    engine_requested: str
    prompt: str
    duration: float
    transition: str
    params: dict
    image: object = None  # an upload, or None
    cost: int = 0


@dataclass
class StoryboardPlan:
    scenes: list[ScenePlan]
    assembly: int
    total: int
    notes: list[str] = field(default_factory=list)


def _first_error(errors) -> str:
    if isinstance(errors, dict):
        for key, value in errors.items():
            return f"{key}: {_first_error(value)}"
    if isinstance(errors, list) and errors:
        return _first_error(errors[0])
    return str(errors)


def storyboard_plan(
    *,
    scenes: list[dict],
    engine: str = "auto",
    params: dict | None = None,
    chain: bool = False,
    persona=None,
    transition: str = "crossfade",
) -> StoryboardPlan:
    """Each scene's kind, engine, finished params and price; the assembly; the total.

    `scenes`: dicts with `prompt`, `image` (an upload, True when one is announced, or None),
    `duration`, and optional `transition`, `engine`, `params`. A scene with an image, and with
    `chain` every scene after the first (and the first when the persona has a reference image),
    is image-to-video; the others are text-to-video and need a prompt. The quote endpoint and
    create both call this, so the quoted price is the charged price.
    """
    from .serializers import PARAMS_SERIALIZERS
    from .services import params_finalize, prompt_compose

    if not scenes:
        raise InvalidGenerationInput("scenes: give at least one scene (or a story).")
    if len(scenes) > MAX_SCENES:
        raise InvalidGenerationInput(f"scenes: at most {MAX_SCENES} scenes per storyboard.")
    defaults = dict(params or {})
    every_param = {name for cls in PARAMS_SERIALIZERS.values() for name in cls().fields}
    unknown = sorted(set(defaults) - every_param)
    if unknown:
        raise InvalidGenerationInput(f"params: {unknown[0]}: Unknown parameter.")
    persona_image = bool(persona is not None and persona.reference_image)
    plans: list[ScenePlan] = []
    for index, scene in enumerate(scenes):
        where = f"scenes[{index}]"
        has_image = bool(scene.get("image"))
        if has_image or (chain and (index > 0 or persona_image)):
            kind = Generation.Kind.IMAGE_TO_VIDEO
        else:
            kind = Generation.Kind.TEXT_TO_VIDEO
        prompt = (scene.get("prompt") or "").strip()
        if kind == Generation.Kind.TEXT_TO_VIDEO and not prompt:
            raise InvalidGenerationInput(f"{where}: give a prompt or an image.")
        duration = float(scene.get("duration") or DEFAULT_SCENE_SECONDS)
        serializer_class = PARAMS_SERIALIZERS[kind]
        known = serializer_class().fields
        raw = {}
        if persona is not None:
            raw.update({k: v for k, v in persona.defaults.items() if k in known})
        raw.update({k: v for k, v in defaults.items() if k in known})
        raw.update(scene.get("params") or {})
        frames_given = "num_frames" in raw
        if not frames_given:
            fps = raw.get("fps", known["fps"].default)
            with contextlib.suppress(TypeError, ValueError):  # the serializer names a bad fps
                raw["num_frames"] = min(120, max(2, round(duration * float(fps))))
        checked = serializer_class(data=raw)
        if not checked.is_valid():
            raise InvalidGenerationInput(f"{where}.params: {_first_error(checked.errors)}")
        scene_params = dict(checked.validated_data)
        requested = scene.get("engine") or engine
        try:
            resolved = engine_choose(kind=kind, requested=requested)
        except ApplicationError as exc:  # say which scene (400 invalid, 503 unavailable)
            exc.message = f"{where}.{exc.message}"
            raise
        if resolved == "svd" and not frames_given:
            from .services import SVD_MAX_FRAMES

            scene_params["num_frames"] = min(scene_params["num_frames"], SVD_MAX_FRAMES)
        try:
            scene_params = params_finalize(kind=kind, engine=resolved, params=scene_params)
        except InvalidGenerationInput as exc:
            raise InvalidGenerationInput(f"{where}.{exc.message}") from None
        final_prompt = prompt_compose(
            kind=kind, engine=resolved, prompt=prompt, persona=persona, params=scene_params
        )
        if final_prompt != prompt:
            scene_params["final_prompt"] = final_prompt
        scene_params["engine_requested"] = requested
        plans.append(
            ScenePlan(
                index=index,
                kind=kind,
                engine=resolved,
                engine_requested=requested,
                prompt=prompt,
                duration=duration,
                transition=scene.get("transition") or transition,
                params=scene_params,
                image=scene.get("image") if has_image else None,
            )
        )
    priced = [{"kind": p.kind, "engine": p.engine, "params": p.params} for p in plans]
    price = price_storyboard(engine="procedural", scenes=priced)
    for plan, cost in zip(plans, price.scenes, strict=True):
        plan.cost = cost
    total = price_generation(kind="storyboard", engine="procedural", params={"scenes": priced})
    return StoryboardPlan(scenes=plans, assembly=price.assembly, total=total)


def storyboard_quote(
    *,
    scenes: list[dict],
    engine: str = "auto",
    params: dict | None = None,
    chain: bool = False,
    persona=None,
) -> StoryboardPlan:
    """The price of a storyboard without creating it: the same plan as create."""
    return storyboard_plan(
        scenes=scenes, engine=engine, params=params, chain=chain, persona=persona
    )


# --- create ---------------------------------------------------------------------------------


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
    )
    stored: list[str] = []
    try:
        with transaction.atomic():
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
            transaction.on_commit(lambda: storyboard_enqueue(generation_id=generation.pk))
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


# --- running: enqueue, scenes, assembly -------------------------------------------------------


def _scene_enqueue(scene: StoryboardScene) -> None:
    from .tasks import storyboard_scene_run

    storyboard_scene_run.apply_async(args=[str(scene.pk)], queue=engine_queue(scene.engine))


def storyboard_enqueue(*, generation_id) -> None:
    """Send the scenes that can start now: all of them, or with `chain` the next one."""
    from .services import generation_mark_failed

    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.is_finished:
        return
    scenes = list(generation.scenes.all())
    if generation.params.get("chain"):
        pending = [s for s in scenes if s.status != SceneStatus.SUCCEEDED]
        ready = pending[:1] if pending and pending[0].status == SceneStatus.QUEUED else []
    else:
        ready = [s for s in scenes if s.status == SceneStatus.QUEUED]
    try:
        for scene in ready:
            _scene_enqueue(scene)
        if not [s for s in scenes if s.status != SceneStatus.SUCCEEDED]:
            storyboard_assembly_enqueue(generation_id=generation_id)
    except Exception:
        logger.exception("Could not enqueue storyboard %s", generation_id)
        generation_mark_failed(
            generation_id=generation_id,
            error="The job queue is unavailable; your credits were refunded. Try again shortly.",
        )
        return
    generation_broadcast(generation_id=generation_id)


def storyboard_scene_mark_running(*, scene_id, worker: str) -> StoryboardScene | None:
    """queued → running for the scene (and the storyboard, when it is its first). None: skip."""
    scene = StoryboardScene.objects.select_related("generation").filter(pk=scene_id).first()
    if scene is None:
        return None
    now = timezone.now()
    count = scene.generation.params.get("scene_count") or 1
    stage = f"scene {scene.index + 1} of {count}"
    started = Generation.objects.filter(pk=scene.generation_id, status=Status.QUEUED).update(
        status=Status.RUNNING,
        stage=stage,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not Generation.objects.filter(pk=scene.generation_id, status=Status.RUNNING).exists():
        StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.QUEUED).update(
            status=SceneStatus.CANCELED, finished_at=now, updated_at=now
        )
        return None
    won = StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.QUEUED).update(
        status=SceneStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        progress=0.0,
        worker=worker[:255],
        attempts=F("attempts") + 1,
        updated_at=now,
    )
    if not won:
        return None
    if not started:
        Generation.objects.filter(pk=scene.generation_id, status=Status.RUNNING).update(
            stage=stage, heartbeat_at=now, updated_at=now
        )
    scene.refresh_from_db()
    generation_broadcast(generation_id=scene.generation_id)
    return scene


def storyboard_scene_heartbeat(*, scene_id, generation_id) -> bool:
    now = timezone.now()
    StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.RUNNING).update(heartbeat_at=now)
    return (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING).update(heartbeat_at=now)
        == 1
    )


def storyboard_scene_mark_succeeded(*, scene_id, video_name: str, notes=()) -> bool:
    """The scene's clip is there; its ``notes`` (e.g. an engine fallback) go on the storyboard."""
    now = timezone.now()
    with transaction.atomic():
        won = (
            StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.RUNNING).update(
                status=SceneStatus.SUCCEEDED,
                video=video_name,
                progress=1.0,
                error="",
                finished_at=now,
                updated_at=now,
            )
            == 1
        )
        if won and notes:
            generation_id = StoryboardScene.objects.values_list("generation_id", flat=True).get(
                pk=scene_id
            )
            parent = Generation.objects.select_for_update().get(pk=generation_id)
            Generation.objects.filter(pk=generation_id).update(
                notes=[*parent.notes, *(n for n in notes if n not in parent.notes)]
            )
    if won:
        scene = StoryboardScene.objects.get(pk=scene_id)
        storyboard_advance(generation_id=scene.generation_id)
    return won


def storyboard_scene_mark_failed(*, scene_id, error: str) -> str:
    """A scene failed: run it once more, or fail the storyboard. Returns what happened."""
    from .services import generation_mark_failed

    scene = StoryboardScene.objects.filter(pk=scene_id).first()
    if scene is None:
        return "gone"
    now = timezone.now()
    if scene.attempts < SCENE_MAX_ATTEMPTS:
        again = StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.RUNNING).update(
            status=SceneStatus.QUEUED, error=error[:2000], progress=0.0, updated_at=now
        )
        if again:
            logger.warning("Scene %s failed (%s); running it once more", scene_id, error)
            try:
                _scene_enqueue(scene)
                return "retrying"
            except Exception:
                logger.exception("Could not enqueue the retry of scene %s", scene_id)
                StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.QUEUED).update(
                    status=SceneStatus.RUNNING
                )
    won = StoryboardScene.objects.filter(
        pk=scene_id, status__in=[SceneStatus.RUNNING, SceneStatus.QUEUED]
    ).update(status=SceneStatus.FAILED, error=error[:2000], finished_at=now, updated_at=now)
    if won:
        generation_mark_failed(
            generation_id=scene.generation_id,
            error=f"Scene {scene.index + 1} failed: {error}",
            reason=f"scene {scene.index + 1} failed",
        )
    return "failed"


def storyboard_scene_mark_canceled(*, scene_id) -> bool:
    now = timezone.now()
    return (
        StoryboardScene.objects.filter(
            pk=scene_id, status__in=[SceneStatus.QUEUED, SceneStatus.RUNNING]
        ).update(status=SceneStatus.CANCELED, finished_at=now, updated_at=now)
        == 1
    )


def storyboard_advance(*, generation_id) -> None:
    """After a scene: send the next chained scene, or the assembly once every clip is there."""
    generation = Generation.objects.filter(pk=generation_id, status=Status.RUNNING).first()
    if generation is None:
        return
    scenes = list(generation.scenes.all())
    pending = [s for s in scenes if s.status != SceneStatus.SUCCEEDED]
    if not pending:
        storyboard_assembly_enqueue(generation_id=generation_id)
    elif generation.params.get("chain") and pending[0].status == SceneStatus.QUEUED:
        _scene_enqueue(pending[0])


def storyboard_assembly_enqueue(*, generation_id) -> bool:
    """Send the assembly once: the stage moves to "assembly queued" for one caller only."""
    from .tasks import storyboard_assemble

    now = timezone.now()
    won = (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING)
        .exclude(stage__in=[ASSEMBLY_QUEUED, ASSEMBLING])
        .update(stage=ASSEMBLY_QUEUED, heartbeat_at=now, updated_at=now)
    )
    if won:
        storyboard_assemble.apply_async(args=[str(generation_id)], queue="cpu")
        generation_broadcast(generation_id=generation_id)
    return bool(won)


def storyboard_assembly_mark_running(*, generation_id, worker: str) -> Generation | None:
    now = timezone.now()
    won = Generation.objects.filter(
        pk=generation_id, status=Status.RUNNING, stage=ASSEMBLY_QUEUED
    ).update(stage=ASSEMBLING, heartbeat_at=now, worker=worker[:255], updated_at=now)
    if not won:
        return None
    generation_broadcast(generation_id=generation_id)
    return Generation.objects.get(pk=generation_id)


def storyboard_set_subtitles(*, generation_id, subtitles_name: str) -> bool:
    return (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING).update(
            subtitles=subtitles_name
        )
        == 1
    )


# --- ending: refunds of what was not produced, outputs, retry ---------------------------------


def storyboard_refund_unproduced(*, generation_id, note: str) -> int:
    """Stop the scenes that have not finished and refund every part without its output.

    Called by whoever won the storyboard's move to failed or canceled. Each part is refunded
    under its own reference, so calling this again refunds nothing twice. Returns the credits
    given back by this call.
    """
    generation = Generation.objects.select_related("user").get(pk=generation_id)
    now = timezone.now()
    StoryboardScene.objects.filter(
        generation_id=generation_id, status__in=[SceneStatus.QUEUED, SceneStatus.RUNNING]
    ).update(status=SceneStatus.CANCELED, finished_at=now, updated_at=now)
    refunded = 0
    for scene in generation.scenes.exclude(status=SceneStatus.SUCCEEDED):
        entry = _refund_part(
            user=generation.user,
            reference=scene.charge_reference,
            amount=scene.cost_credits,
            note=f"{note} (scene {scene.index + 1})",
        )
        refunded += entry.amount if entry else 0
    assembly = int(generation.params.get("assembly_credits") or 0)
    if generation.status != Status.SUCCEEDED:
        entry = _refund_part(
            user=generation.user,
            reference=assembly_reference(generation_id=generation_id),
            amount=assembly,
            note=f"{note} (assembly)",
        )
        refunded += entry.amount if entry else 0
    return refunded


def storyboard_net_charge(*, generation_id) -> int:
    """What the owner has paid for this storyboard, net: its spends (at create and for scene
    retries) less every refund of its parts. Never negative."""
    entries = LedgerEntry.objects.filter(
        Q(reference=f"generation:{generation_id}")
        | Q(reference__startswith=f"storyboard:{generation_id}:")
    )
    total = entries.aggregate(total=Sum("amount"))["total"] or 0
    return max(0, -total)


def _refund_part(*, user, reference: str, amount: int, note: str):
    if LedgerEntry.objects.filter(kind=LedgerEntry.Kind.SPEND, reference=reference).exists():
        return credits_refund_spend(spend_reference=reference, note=note)
    return ledger_apply(
        user=user, kind=LedgerEntry.Kind.REFUND, amount=amount, reference=reference, note=note
    )


def storyboard_discard_outputs(*, generation_id, out_dir: Path) -> None:
    """Remove the merged outputs and the clips of unfinished scenes; finished clips stay (they
    were paid for, are shown per scene, and a retry re-assembles from them)."""
    keep = {
        str(index)
        for index in StoryboardScene.objects.filter(
            generation_id=generation_id, status=SceneStatus.SUCCEEDED
        ).values_list("index", flat=True)
    }
    if not out_dir.is_dir():
        return
    for entry in out_dir.iterdir():
        if entry.name == "scenes" and entry.is_dir():
            for scene_dir in entry.iterdir():
                if scene_dir.name not in keep:
                    shutil.rmtree(scene_dir, ignore_errors=True)
        elif entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


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
        raise InvalidGenerationInput(
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
    from .tasks import storyboard_assemble

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
        )
        if not reopened:
            raise StoryboardNotRetryable("This storyboard changed meanwhile; reload it.")

        def send() -> None:
            from .services import generation_mark_failed

            try:
                storyboard_assemble.apply_async(args=[str(generation.pk)], queue="cpu")
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
