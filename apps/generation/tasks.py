"""Celery tasks: the only bridge between the Django side and the media pipeline in workers/.

Tasks take ids, move the state machine through services, and import the engines lazily, so a
web process never loads torch. Time limits are per task and generous; the broker's visibility
timeout is set above the hard limit (config/settings/base.py).
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections

from .engines import engine_model
from .models import Generation, StoryboardScene
from .progress import ProgressReporter, StoryboardAssemblyReporter, StoryboardSceneReporter
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
from .storyboards import (
    storyboard_assembly_mark_running,
    storyboard_scene_heartbeat,
    storyboard_scene_mark_canceled,
    storyboard_scene_mark_failed,
    storyboard_scene_mark_running,
    storyboard_scene_mark_succeeded,
    storyboard_set_subtitles,
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
                if not self.beat():
                    return
        finally:
            close_old_connections()

    def beat(self) -> bool:
        return generation_heartbeat(generation_id=self.generation_id)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=self.interval + 1)


# Every task that makes media: redelivered if its worker dies (acks_late + reject), bounded in
# time (the soft limit fails the job with a message; the hard limit kills the child).
JOB_TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": settings.GENERATION_SOFT_TIME_LIMIT,
    "time_limit": settings.GENERATION_TIME_LIMIT,
}


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
        return _procedural_fallback(generation, notes, exc), notes


def _procedural_fallback(generation: Generation, notes: list[str], exc: Exception):
    """An `auto` job whose model cannot load runs on the procedural engine, and says so."""
    from workers.engines import get_engine

    if generation.engine_requested != "auto" or generation.engine == "procedural":
        raise exc
    notes.append(f"{generation.engine} was unavailable ({exc}); used the procedural engine.")
    logger.warning("Falling back to procedural for %s: %s", generation.pk, exc)
    return get_engine("procedural")


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
    **JOB_TASK_OPTIONS,
)
def generation_run(self, generation_id: str) -> str:
    generation = generation_mark_running(
        generation_id=generation_id, worker=self.request.hostname or "worker"
    )
    if generation is None:
        return "skipped"  # already started, finished or canceled: a redelivery or a race
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
            fallback = _procedural_fallback(generation, notes, exc)
            result = render_video(request, engine=fallback, out_dir=out_dir, progress=reporter)
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


# --- storyboards: one task per scene, then the assembly -----------------------------------------


class SceneHeartbeat(Heartbeat):
    """Touches the scene and its storyboard while the scene runs."""

    def __init__(self, scene, interval: float):
        super().__init__(scene.generation_id, interval)
        self.scene_id = scene.pk

    def beat(self) -> bool:
        return storyboard_scene_heartbeat(scene_id=self.scene_id, generation_id=self.generation_id)


def _scene_request(scene, image_path: str | None):
    from workers.engines.base import VideoRequest

    p = scene.params
    return VideoRequest(
        kind=scene.kind,
        prompt=p.get("final_prompt", scene.prompt),
        negative_prompt=scene.generation.negative_prompt,
        image_path=image_path,
        width=p["width"],
        height=p["height"],
        fps=p["fps"],
        num_frames=p["num_frames"],
        num_inference_steps=p.get("num_inference_steps", 25),
        guidance_scale=p.get("guidance_scale", 9.0),
        motion_strength=p.get("motion_strength", 0.5),
        noise_aug_strength=p.get("noise_aug_strength", 0.02),
        seed=p.get("seed", 0),
        extra={
            k: v
            for k, v in p.items()
            if k
            in ("min_guidance_scale", "max_guidance_scale", "decode_chunk_size", "model", "quality")
        },
    )


def _scene_engine(scene, notes: list[str]):
    from workers.engines import get_engine
    from workers.engines.base import EngineUnavailable

    try:
        return get_engine(scene.engine, **_engine_options(scene.engine))
    except EngineUnavailable as exc:
        return _scene_fallback(scene, notes, exc)


def _scene_fallback(scene, notes: list[str], exc: Exception):
    """`auto` scenes fall back to procedural when their model cannot load; others fail."""
    from workers.engines import get_engine

    if scene.params.get("engine_requested", "auto") != "auto" or scene.engine == "procedural":
        raise exc
    notes.append(f"scene {scene.index + 1}: {scene.engine} was unavailable; used procedural.")
    logger.warning("Falling back to procedural for scene %s: %s", scene.pk, exc)
    return get_engine("procedural")


def _scene_start_image(scene, out_dir: Path) -> tuple[str | None, bool]:
    """The scene's start image, and whether it is the previous scene's last frame (chained)."""
    from workers.storyboard.frames import extract_last_frame

    if scene.image:
        return scene.image.path, False
    if scene.kind != Generation.Kind.IMAGE_TO_VIDEO or scene.index == 0:
        return None, False
    previous = StoryboardScene.objects.get(generation_id=scene.generation_id, index=scene.index - 1)
    if not previous.video:
        raise RuntimeError(f"scene {scene.index} has no clip to chain from")
    handover = out_dir / "start.png"
    extract_last_frame(Path(settings.MEDIA_ROOT) / previous.video.name, handover)
    return str(handover), True


@shared_task(
    name="generation.storyboard_scene",
    **JOB_TASK_OPTIONS,
)
def storyboard_scene_run(self, scene_id: str) -> str:
    scene = storyboard_scene_mark_running(
        scene_id=scene_id, worker=self.request.hostname or "worker"
    )
    if scene is None:
        return "skipped"
    from workers.engines.base import EngineError, EngineUnavailable, GenerationCanceled
    from workers.pipeline import render_video
    from workers.storyboard.chain import AnchoredEngine

    generation = scene.generation
    reporter = StoryboardSceneReporter(
        generation, scene=scene, scene_count=generation.params.get("scene_count") or 1
    )
    heartbeat = SceneHeartbeat(scene, settings.GENERATION_HEARTBEAT_INTERVAL)
    heartbeat.start()
    out_dir = generation_output_dir(generation_id=generation.pk) / "scenes" / str(scene.index)
    out_dir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    try:
        image_path, chained = _scene_start_image(scene, out_dir)
        engine = _scene_engine(scene, notes)
        if chained:
            engine = AnchoredEngine(engine, image_path)
        request = _scene_request(scene, image_path)
        try:
            result = render_video(request, engine=engine, out_dir=out_dir, progress=reporter)
        except EngineUnavailable as exc:
            # Diffusion engines load their weights on first use, inside render_video.
            fallback = _scene_fallback(scene, notes, exc)
            if chained:
                fallback = AnchoredEngine(fallback, image_path)
            result = render_video(request, engine=fallback, out_dir=out_dir, progress=reporter)
    except GenerationCanceled:
        storyboard_scene_mark_canceled(scene_id=scene.pk)
        return "canceled"
    except SoftTimeLimitExceeded:
        minutes = settings.GENERATION_SOFT_TIME_LIMIT // 60
        storyboard_scene_mark_failed(
            scene_id=scene.pk, error=f"it took longer than the {minutes}-minute limit."
        )
        return "failed"
    except EngineError as exc:
        return storyboard_scene_mark_failed(scene_id=scene.pk, error=str(exc))
    except Exception:
        logger.exception("Storyboard scene %s crashed", scene.pk)
        return storyboard_scene_mark_failed(scene_id=scene.pk, error="an internal error.")
    finally:
        heartbeat.stop()

    video_name = str(Path(result.video_path).relative_to(Path(settings.MEDIA_ROOT)))
    if not storyboard_scene_mark_succeeded(scene_id=scene.pk, video_name=video_name, notes=notes):
        shutil.rmtree(out_dir, ignore_errors=True)  # canceled meanwhile: not wanted
        return "discarded"
    return "succeeded"


def _narration(generation: Generation, out_dir: Path) -> tuple[str | None, list[str]]:
    """The narration track to mix: the upload, or the text spoken by espeak-ng."""
    from workers.storyboard.audio import synthesize_speech

    if generation.narration_audio:
        return str(Path(settings.MEDIA_ROOT) / generation.narration_audio.name), []
    text = generation.params.get("narration_text") or ""
    if not text:
        return None, []
    path = out_dir / "narration.wav"
    synthesize_speech(text, path)
    return str(path), ["narration spoken by espeak-ng"]


@shared_task(
    name="generation.storyboard_assemble",
    **JOB_TASK_OPTIONS,
)
def storyboard_assemble(self, generation_id: str) -> str:
    generation = storyboard_assembly_mark_running(
        generation_id=generation_id, worker=self.request.hostname or "worker"
    )
    if generation is None:
        return "skipped"
    import numpy as np
    from PIL import Image

    from workers.engines.base import GenerationCanceled
    from workers.media.encode import write_thumbnail
    from workers.storyboard import ClipSpec, assemble_storyboard, get_preset
    from workers.storyboard.audio import TTSUnavailable
    from workers.storyboard.frames import extract_first_frame
    from workers.storyboard.subtitles import narration_to_webvtt

    reporter = StoryboardAssemblyReporter(generation)
    heartbeat = Heartbeat(generation.pk, settings.GENERATION_HEARTBEAT_INTERVAL)
    heartbeat.start()
    media_root = Path(settings.MEDIA_ROOT)
    out_dir = generation_output_dir(generation_id=generation.pk)
    out_dir.mkdir(parents=True, exist_ok=True)
    p = generation.params
    try:
        reporter("assembling", 0, 100)
        scenes = list(generation.scenes.all())
        audio_path, notes = _narration(generation, out_dir)
        result = assemble_storyboard(
            clips=[
                ClipSpec(
                    media_root / s.video.name, transition_to_next=s.transition, duration=s.duration
                )
                for s in scenes
            ],
            preset=get_preset(p.get("quality", "standard")),
            transition_duration=float(p.get("transition_duration", 0.5)),
            audio_path=audio_path,
            out_path=out_dir / "video.mp4",
            on_progress=lambda done, total: reporter(
                "assembling", int(99 * done / total) if total else 99, 100
            ),
        )
        first = extract_first_frame(result.path, out_dir / "first.png")
        with Image.open(first) as im:
            write_thumbnail(np.asarray(im.convert("RGB")), out_dir / "thumbnail.jpg")
        first.unlink(missing_ok=True)
        if p.get("narration_text"):
            vtt = out_dir / "subtitles.vtt"
            vtt.write_text(
                narration_to_webvtt(p["narration_text"], duration=result.duration),
                encoding="utf-8",
            )
            storyboard_set_subtitles(
                generation_id=generation.pk, subtitles_name=str(vtt.relative_to(media_root))
            )
        reporter("assembling", 100, 100)
    except GenerationCanceled:
        generation_mark_canceled(generation_id=generation.pk)
        return "canceled"
    except SoftTimeLimitExceeded:
        minutes = settings.GENERATION_SOFT_TIME_LIMIT // 60
        generation_mark_failed(
            generation_id=generation.pk,
            error=f"The assembly took longer than the {minutes}-minute limit.",
            reason="timed out",
        )
        return "failed"
    except (TTSUnavailable, ValueError, RuntimeError) as exc:
        generation_mark_failed(generation_id=generation.pk, error=f"Assembly failed: {exc}")
        return "failed"
    except Exception:
        logger.exception("Storyboard assembly %s crashed", generation.pk)
        generation_mark_failed(
            generation_id=generation.pk,
            error="The assembly failed because of an internal error; unused credits were refunded.",
        )
        return "failed"
    finally:
        heartbeat.stop()

    won = generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=str(Path(result.path).relative_to(media_root)),
        thumbnail_name=str((out_dir / "thumbnail.jpg").relative_to(media_root)),
        width=result.width,
        height=result.height,
        fps=result.fps,
        num_frames=result.num_frames,
        duration_seconds=result.duration,
        engine=generation.engine,
        notes=[*generation.notes, *notes],
    )
    if not won:
        generation_discard_outputs(generation_id=generation.pk)
        return "discarded"
    return "succeeded"
