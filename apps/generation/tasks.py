"""Celery tasks for single jobs: the bridge between the Django side and the media pipeline in
workers/ (the storyboard tasks are in apps.generation.storyboards.tasks).

Tasks take ids, move the state machine through services, and import the engines lazily, so a
web process never loads torch. Services send them by name (apps.generation.dispatch). Time
limits are per task and generous; the broker's visibility timeout is set above the hard limit
(config/settings/base.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from apps.core.storage import media_fetch, scratch_dir, scratch_remove

from .dispatch import GENERATION_RUN
from .outputs import generation_discard_outputs, generation_store_output
from .progress import ProgressReporter
from .runtime import (
    JOB_TASK_OPTIONS,
    Heartbeat,
    engine_load,
    look_again_if_runner_may_live,
    procedural_fallback,
    video_request,
)
from .services import (
    generation_mark_canceled,
    generation_mark_failed,
    generation_mark_running,
    generation_mark_succeeded,
    generation_take_over,
    worker_name,
)

logger = logging.getLogger(__name__)


@shared_task(name=GENERATION_RUN, **JOB_TASK_OPTIONS)
def generation_run(self, generation_id: str) -> str:
    worker = worker_name(self.request.hostname)
    generation = generation_mark_running(generation_id=generation_id, worker=worker)
    if generation is None:
        # Already running: a redelivery after its worker died runs it again from the start.
        verdict, generation = generation_take_over(
            generation_id=generation_id, task_id=self.request.id, worker=worker
        )
        look_again_if_runner_may_live(self, verdict)
        if generation is None:
            return "skipped"  # finished, canceled, a duplicate, or a live runner has it
    from workers.engines.base import EngineError, EngineUnavailable, GenerationCanceled
    from workers.pipeline import render_video

    reporter = ProgressReporter(generation)
    heartbeat = Heartbeat(generation.pk, settings.GENERATION_HEARTBEAT_INTERVAL)
    heartbeat.start()
    # Inputs are fetched and outputs made in a scratch folder of this machine's own; the
    # outputs are then stored (web and workers may not share a disk).
    out_dir = scratch_dir(prefix=f"generation-{generation.pk}")
    try:
        notes: list[str] = []
        engine = engine_load(
            engine=generation.engine, requested=generation.engine_requested, notes=notes
        )
        request = video_request(
            kind=generation.kind,
            prompt=generation.prompt,
            negative_prompt=generation.negative_prompt,
            image_path=(
                str(media_fetch(generation.input_image.name, out_dir / "input.png"))
                if generation.input_image
                else None
            ),
            params=generation.params,
            seed=generation.seed,
        )
        try:
            result = render_video(request, engine=engine, out_dir=out_dir, progress=reporter)
        except EngineUnavailable as exc:
            # Diffusion engines load their weights on first use, inside render_video.
            fallback = procedural_fallback(
                engine=generation.engine,
                requested=generation.engine_requested,
                notes=notes,
                exc=exc,
            )
            result = render_video(request, engine=fallback, out_dir=out_dir, progress=reporter)
        video_name = generation_store_output(
            generation_id=generation.pk, path=result.video_path, name="video.mp4"
        )
        thumbnail_name = generation_store_output(
            generation_id=generation.pk,
            path=result.thumbnail_path,
            name=Path(result.thumbnail_path).name,
        )
    except GenerationCanceled:
        generation_mark_canceled(generation_id=generation.pk)
        return "canceled"
    except SoftTimeLimitExceeded:
        minutes = settings.GENERATION_SOFT_TIME_LIMIT // 60
        generation_mark_failed(
            generation_id=generation.pk,
            error=f"The generation took longer than the {minutes}-minute limit.",
            reason="timed out",
        )
        return "failed"
    except EngineError as exc:
        generation_mark_failed(generation_id=generation.pk, error=str(exc))
        return "failed"
    except Exception:
        logger.exception("Generation %s crashed", generation.pk)
        generation_mark_failed(
            generation_id=generation.pk,
            error="The generation failed because of an internal error; your credits were refunded.",
        )
        return "failed"
    finally:
        heartbeat.stop()
        scratch_remove(out_dir)

    won = generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=video_name,
        thumbnail_name=thumbnail_name,
        width=result.width,
        height=result.height,
        fps=result.fps,
        num_frames=result.num_frames,
        duration_seconds=result.duration_seconds,
        engine=result.engine,
        notes=notes + list(result.notes),
        generation_time=result.generation_time,
        recipe=result.recipe,
    )
    if not won:  # canceled or reaped meanwhile: the files are not wanted
        generation_discard_outputs(generation_id=generation.pk)
        return "discarded"
    return "succeeded"
