"""Celery tasks: the only bridge between the Django side and the media pipeline in workers/.

Tasks take ids, move the state machine through services, and import the engines lazily, so a
web process never loads torch. Time limits are per task and generous; the broker's visibility
timeout is set above the hard limit (config/settings/base.py).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from .engines import engine_model
from .models import Generation
from .progress import ProgressReporter
from .services import (
    generation_discard_outputs,
    generation_heartbeat,
    generation_mark_canceled,
    generation_mark_failed,
    generation_mark_running,
    generation_mark_succeeded,
    generation_output_dir,
    generation_reap_lost,
)

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    """Touches the row every few seconds while a job runs, so the reaper knows we are alive."""

    def __init__(self, generation_id, interval: float):
        super().__init__(name=f"heartbeat-{generation_id}", daemon=True)
        self.generation_id = generation_id
        self.interval = interval
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.wait(self.interval):
                if not generation_heartbeat(generation_id=self.generation_id):
                    return
        finally:
            close_old_connections()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.interval + 1)


def _engine_options(engine: str) -> dict:
    if engine == "procedural":
        return {}
    return {"model": engine_model(engine), "device": settings.TORCH_DEVICE or None}


def _load_engine(generation: Generation, reporter: ProgressReporter):
    """The engine for this job; `auto` falls back to procedural when a model cannot load."""
    from workers.engines import get_engine
    from workers.engines.base import EngineUnavailable

    notes: list[str] = []
    try:
        return get_engine(generation.engine, **_engine_options(generation.engine)), notes
    except EngineUnavailable as exc:
        if generation.engine_requested != "auto" or generation.engine == "procedural":
            raise
        notes.append(f"{generation.engine} was unavailable ({exc}); used the procedural engine.")
        logger.warning("Falling back to procedural for %s: %s", generation.pk, exc)
        return get_engine("procedural"), notes


def _video_request(generation: Generation):
    from workers.engines.base import VideoRequest

    p = generation.params
    return VideoRequest(
        kind=generation.kind,
        prompt=p.get("final_prompt", generation.prompt),
        negative_prompt=generation.negative_prompt,
        image_path=generation.input_image.path if generation.input_image else None,
        width=p["width"],
        height=p["height"],
        fps=p["fps"],
        num_frames=p["num_frames"],
        num_inference_steps=p.get("num_inference_steps", 25),
        guidance_scale=p.get("guidance_scale", 9.0),
        motion_strength=p.get("motion_strength", 0.5),
        noise_aug_strength=p.get("noise_aug_strength", 0.02),
        seed=generation.seed,
        extra={
            k: v
            for k, v in p.items()
            if k
            in ("min_guidance_scale", "max_guidance_scale", "decode_chunk_size", "model", "quality")
        },
    )


@shared_task(
    name="generation.run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=settings.GENERATION_SOFT_TIME_LIMIT,
    time_limit=settings.GENERATION_TIME_LIMIT,
)
def generation_run(self, generation_id: str) -> str:
    generation = generation_mark_running(
        generation_id=generation_id, worker=self.request.hostname or "worker"
    )
    if generation is None:
        return "skipped"  # already started, finished or canceled: a redelivery or a race
    from workers.engines import get_engine
    from workers.engines.base import EngineError, EngineUnavailable, GenerationCanceled
    from workers.pipeline import render_video

    reporter = ProgressReporter(generation)
    heartbeat = Heartbeat(generation.pk, settings.GENERATION_HEARTBEAT_INTERVAL)
    heartbeat.start()
    out_dir = generation_output_dir(generation_id=generation.pk)
    try:
        engine, notes = _load_engine(generation, reporter)
        request = _video_request(generation)
        try:
            result = render_video(request, engine=engine, out_dir=out_dir, progress=reporter)
        except EngineUnavailable as exc:
            # Diffusion engines load their weights on first use, inside render_video.
            if generation.engine_requested != "auto" or generation.engine == "procedural":
                raise
            notes.append(
                f"{generation.engine} was unavailable ({exc}); used the procedural engine."
            )
            logger.warning("Falling back to procedural for %s: %s", generation.pk, exc)
            result = render_video(
                request, engine=get_engine("procedural"), out_dir=out_dir, progress=reporter
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

    media_root = Path(settings.MEDIA_ROOT)
    won = generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=str(Path(result.video_path).relative_to(media_root)),
        thumbnail_name=str(Path(result.thumbnail_path).relative_to(media_root)),
        width=result.width,
        height=result.height,
        fps=result.fps,
        num_frames=result.num_frames,
        duration_seconds=result.duration_seconds,
        engine=result.engine,
        notes=notes + list(result.notes),
    )
    if not won:  # canceled or reaped meanwhile: the files are not wanted
        generation_discard_outputs(generation_id=generation.pk)
        return "discarded"
    return "succeeded"


@shared_task(name="generation.reap_lost", ignore_result=True)
def generation_reap_lost_task() -> int:
    return generation_reap_lost()
