"""A storyboard on its way: enqueue its scenes (in parallel, or one after another when
chained), move each scene through its states, then send the one assembly task. The tasks call
these; these send the tasks by name (apps.generation.dispatch), so the imports run one way."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ..dispatch import STORYBOARD_ASSEMBLE, STORYBOARD_SCENE, new_task_id, task_send
from ..engines import engine_queue
from ..events import generation_broadcast
from ..exceptions import QueueUnavailable
from ..models import Generation, StoryboardScene
from ..services import (
    ASSEMBLY_QUEUED,
    QUEUE_DOWN_DETAIL,
    QUEUE_DOWN_ERROR,
    generation_mark_failed,
    runner_gone,
)
from ..signals import generation_started

logger = logging.getLogger(__name__)


Status = Generation.Status


SceneStatus = StoryboardScene.Status


SCENE_MAX_ATTEMPTS = 2  # a failing scene is run once more before the storyboard fails


ASSEMBLING = "assembling"


def _scene_enqueue(scene: StoryboardScene) -> None:
    """Send the scene's task; its row names the message (apps.generation.maintenance sends it
    again if the broker loses it)."""
    task_id = new_task_id()
    StoryboardScene.objects.filter(pk=scene.pk).update(task_id=task_id, enqueued_at=timezone.now())
    storyboard_scene_send(scene=scene, task_id=task_id)


def storyboard_scene_send(*, scene: StoryboardScene, task_id: str) -> None:
    """Send the scene's task under the id its row names."""
    task_send(STORYBOARD_SCENE, str(scene.pk), queue=engine_queue(scene.engine), task_id=task_id)


def storyboard_assembly_send(*, generation_id, task_id: str) -> None:
    """Send the assembly's task under the id the storyboard's row names."""
    task_send(STORYBOARD_ASSEMBLE, str(generation_id), queue="cpu", task_id=task_id)


def storyboard_enqueue(*, generation_id, created: bool = False) -> None:
    """Send the scenes that can start now: all of them, or with `chain` the next one.

    When the broker cannot take them the storyboard fails and is refunded; a storyboard just
    `created` also releases its Idempotency-Key and raises QueueUnavailable (503), as a single
    job does (apps.generation.services)."""
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
    except Exception as exc:
        logger.warning("Could not enqueue storyboard %s: %s", generation_id, exc)
        generation_mark_failed(
            generation_id=generation_id,
            error="The job queue is unavailable; your credits were refunded. Try again shortly."
            if not created
            else QUEUE_DOWN_ERROR,
            reason="not enqueued",
            release_key=created,
        )
        if created:
            raise QueueUnavailable(QUEUE_DOWN_DETAIL) from None
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
    if started:  # the storyboard's first scene: the job as a whole starts
        generation_started.send(sender=Generation, generation=scene.generation)
    generation_broadcast(generation_id=scene.generation_id)
    return scene


def storyboard_scene_take_over(
    *, scene_id, task_id: str, worker: str
) -> tuple[str, StoryboardScene | None]:
    """A running scene's message delivered again: its worker died. As for a single job
    (apps.generation.services.generation_take_over): ("run", scene) runs it again from zero,
    ("wait", None) looks again shortly, ("skip", None) leaves it, ("failed", None) it has run
    SCENE_MAX_ATTEMPTS times and the storyboard failed (refunding what was not produced)."""
    scene = StoryboardScene.objects.select_related("generation").filter(pk=scene_id).first()
    if scene is None or scene.status != SceneStatus.RUNNING:
        return "skip", None
    if scene.generation.status != Status.RUNNING:
        return "skip", None
    if scene.task_id and task_id != scene.task_id:
        return "skip", None
    now = timezone.now()
    if not runner_gone(worker=scene.worker, heartbeat_at=scene.heartbeat_at, me=worker, now=now):
        return "wait", None
    if scene.attempts >= SCENE_MAX_ATTEMPTS:
        storyboard_scene_mark_failed(
            scene_id=scene_id, error="its worker stopped before it finished, twice."
        )
        return "failed", None
    won = StoryboardScene.objects.filter(
        pk=scene_id, status=SceneStatus.RUNNING, worker=scene.worker, attempts=scene.attempts
    ).update(
        started_at=now,
        heartbeat_at=now,
        progress=0.0,
        worker=worker[:255],
        attempts=scene.attempts + 1,
        updated_at=now,
    )
    if not won:
        return "skip", None
    logger.warning("Scene %s: its worker %s was lost; running it again", scene_id, scene.worker)
    Generation.objects.filter(pk=scene.generation_id, status=Status.RUNNING).update(
        heartbeat_at=now, updated_at=now
    )
    scene.refresh_from_db()
    generation_broadcast(generation_id=scene.generation_id)
    return "run", scene


def storyboard_scene_heartbeat(*, scene_id, generation_id) -> bool:
    now = timezone.now()
    StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.RUNNING).update(heartbeat_at=now)
    return (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING).update(heartbeat_at=now)
        == 1
    )


def storyboard_scene_mark_succeeded(
    *,
    scene_id,
    video_name: str,
    notes=(),
    generation_time: float | None = None,
    recipe: dict | None = None,
) -> bool:
    """The scene's clip is there, with its run's `generation_time` and `recipe`; its ``notes``
    (e.g. an engine fallback) go on the storyboard."""
    now = timezone.now()
    with transaction.atomic():
        won = (
            StoryboardScene.objects.filter(pk=scene_id, status=SceneStatus.RUNNING).update(
                status=SceneStatus.SUCCEEDED,
                video=video_name,
                progress=1.0,
                error="",
                generation_time=None if generation_time is None else round(generation_time, 3),
                recipe=recipe or {},
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
    now = timezone.now()
    task_id = new_task_id()
    won = (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING)
        .exclude(stage__in=[ASSEMBLY_QUEUED, ASSEMBLING])
        .update(
            stage=ASSEMBLY_QUEUED,
            heartbeat_at=now,
            updated_at=now,
            task_id=task_id,
            enqueued_at=now,
        )
    )
    if won:
        storyboard_assembly_send(generation_id=generation_id, task_id=task_id)
        generation_broadcast(generation_id=generation_id)
    return bool(won)


def storyboard_assembly_mark_running(*, generation_id, worker: str) -> Generation | None:
    now = timezone.now()
    won = Generation.objects.filter(
        pk=generation_id, status=Status.RUNNING, stage=ASSEMBLY_QUEUED
    ).update(
        stage=ASSEMBLING,
        heartbeat_at=now,
        worker=worker[:255],
        assembly_runs=F("assembly_runs") + 1,
        updated_at=now,
    )
    if not won:
        return None
    generation_broadcast(generation_id=generation_id)
    return Generation.objects.get(pk=generation_id)


def storyboard_assembly_take_over(
    *, generation_id, task_id: str, worker: str
) -> tuple[str, Generation | None]:
    """The assembly's message delivered again while it was assembling: its worker died. The
    same answers as storyboard_scene_take_over; after GENERATION_MAX_ATTEMPTS assembly runs the
    storyboard fails (the assembly is refunded, the scenes' clips stay paid for and kept)."""
    generation = Generation.objects.filter(
        pk=generation_id, status=Status.RUNNING, stage=ASSEMBLING
    ).first()
    if generation is None or (generation.task_id and task_id != generation.task_id):
        return "skip", None
    now = timezone.now()
    if not runner_gone(
        worker=generation.worker, heartbeat_at=generation.heartbeat_at, me=worker, now=now
    ):
        return "wait", None
    if generation.assembly_runs >= settings.GENERATION_MAX_ATTEMPTS:
        generation_mark_failed(
            generation_id=generation_id,
            error="The assembly's worker stopped before it finished; unused credits were refunded.",
            reason="worker lost",
        )
        return "failed", None
    won = Generation.objects.filter(
        pk=generation_id,
        status=Status.RUNNING,
        stage=ASSEMBLING,
        worker=generation.worker,
        assembly_runs=generation.assembly_runs,
    ).update(
        heartbeat_at=now,
        worker=worker[:255],
        assembly_runs=generation.assembly_runs + 1,
        updated_at=now,
    )
    if not won:
        return "skip", None
    logger.warning("Storyboard %s: its assembly's worker was lost; assembling again", generation_id)
    generation.refresh_from_db()
    generation_broadcast(generation_id=generation_id)
    return "run", generation


def storyboard_set_subtitles(*, generation_id, subtitles_name: str) -> bool:
    return (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING).update(
            subtitles=subtitles_name
        )
        == 1
    )
