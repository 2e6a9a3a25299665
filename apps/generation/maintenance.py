"""Housekeeping on the `maintenance` queue, which no long job can block (its own worker):

- the reaper: a running job whose worker stopped sending heartbeats is failed and refunded;
- the re-enqueue: a queued job (or a storyboard's scene, or its assembly) whose broker message
  vanished (Redis restarted without persistence, a flushed queue) is sent again, up to
  GENERATION_MAX_REQUEUES times, then failed and refunded. Each row names the message that
  should run it (`task_id`); the broker is asked which messages it holds, waiting or reserved.
  A message sent twice is harmless: a job starts once (a conditional move from `queued`), and a
  message that is not the row's current one is skipped when the job already runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from .broker import broker_message_ids
from .dispatch import new_task_id
from .engines import engine_queue
from .models import Generation, StoryboardScene
from .services import (
    ASSEMBLY_QUEUED,
    generation_enqueue,
    generation_mark_failed,
    generation_reap_lost,
)
from .storyboards.running import storyboard_assembly_send, storyboard_scene_send

logger = logging.getLogger(__name__)
Status = Generation.Status


def _grace() -> timedelta:
    """A message sent moments ago may still be on its way into the queue."""
    return timedelta(seconds=min(10.0, settings.GENERATION_REQUEUE_AFTER / 4))


@dataclass
class Requeued:
    jobs: int = 0
    scenes: int = 0
    assemblies: int = 0
    failed: int = 0

    def __bool__(self) -> bool:
        return bool(self.jobs or self.scenes or self.assemblies or self.failed)


def generation_requeue_lost(*, now=None) -> Requeued | None:
    """Send again what waits for a message the broker no longer holds. None: the broker could
    not be read, and nothing was done (a waiting message and a lost one look alike then)."""
    now = now or timezone.now()
    sent_before = now - _grace()
    jobs = list(
        Generation.objects.filter(status=Status.QUEUED, enqueued_at__lt=sent_before)
        .exclude(kind=Generation.Kind.STORYBOARD)
        .exclude(task_id="")
    )
    assemblies = list(
        Generation.objects.filter(
            kind=Generation.Kind.STORYBOARD,
            status=Status.RUNNING,
            stage=ASSEMBLY_QUEUED,
            enqueued_at__lt=sent_before,
        ).exclude(task_id="")
    )
    scenes = list(
        StoryboardScene.objects.filter(
            status=StoryboardScene.Status.QUEUED,
            enqueued_at__lt=sent_before,
            generation__status__in=[Status.QUEUED, Status.RUNNING],
        )
        .exclude(task_id="")
        .select_related("generation")
    )
    if not (jobs or assemblies or scenes):
        return Requeued()
    queues = {g.queue for g in jobs} | {engine_queue(s.engine) for s in scenes}
    held = broker_message_ids(queues | ({"cpu"} if assemblies else set()))
    if held is None:
        return None
    done = Requeued()
    for generation in (g for g in jobs if g.task_id not in held):
        if generation.requeues >= settings.GENERATION_MAX_REQUEUES:
            done.failed += _give_up(generation.pk, generation.requeues)
            continue
        task_id = new_task_id()
        if _renamed(Generation, generation, task_id, now, status=Status.QUEUED):
            generation.task_id = task_id
            done.jobs += _sent(generation_enqueue, generation=generation)
    for generation in (g for g in assemblies if g.task_id not in held):
        if generation.requeues >= settings.GENERATION_MAX_REQUEUES:
            done.failed += _give_up(generation.pk, generation.requeues)
            continue
        task_id = new_task_id()
        if _renamed(Generation, generation, task_id, now, stage=ASSEMBLY_QUEUED):
            done.assemblies += _sent(
                storyboard_assembly_send, generation_id=generation.pk, task_id=task_id
            )
    for scene in (s for s in scenes if s.task_id not in held):
        if scene.requeues >= settings.GENERATION_MAX_REQUEUES:
            done.failed += _give_up(scene.generation_id, scene.requeues)
            continue
        task_id = new_task_id()
        if _renamed(StoryboardScene, scene, task_id, now, status=StoryboardScene.Status.QUEUED):
            done.scenes += _sent(storyboard_scene_send, scene=scene, task_id=task_id)
    if done:
        logger.warning(
            "Broker messages lost: sent again %d job(s), %d scene(s), %d assembly(ies); "
            "failed %d after %d tries",
            done.jobs,
            done.scenes,
            done.assemblies,
            done.failed,
            settings.GENERATION_MAX_REQUEUES,
        )
    return done


def _sent(send, **kwargs) -> int:
    """1 when the message went; a broker failing now is logged, and the next look tries again."""
    try:
        send(**kwargs)
    except Exception as exc:
        logger.warning("Could not send a lost message again: %s", exc)
        return 0
    return 1


def _renamed(model, row, task_id: str, now, **still) -> bool:
    """Point the row at its new message, if it still waits on the lost one (one caller wins)."""
    return bool(
        model.objects.filter(pk=row.pk, task_id=row.task_id, **still).update(
            task_id=task_id, enqueued_at=now, requeues=F("requeues") + 1
        )
    )


def _give_up(generation_id, tries: int) -> int:
    return int(
        generation_mark_failed(
            generation_id=generation_id,
            error=f"The job queue lost this job {tries + 1} times; your credits were refunded.",
            reason="lost by the queue",
        )
    )


@shared_task(name="generation.reap_lost", ignore_result=True)
def generation_reap_lost_task() -> int:
    return generation_reap_lost()


@shared_task(name="generation.requeue_lost", ignore_result=True)
def generation_requeue_lost_task() -> str:
    done = generation_requeue_lost()
    return "broker unreadable" if done is None else str(done)
