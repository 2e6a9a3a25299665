"""Celery tasks for storyboards: one per scene, then the assembly.

Sent by name from apps.generation.storyboards.running; like the single-job tasks they take ids,
move the state machine through services and import the media pipeline lazily.
"""

from __future__ import annotations

import logging
from pathlib import Path

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from apps.core.storage import media_delete, media_fetch, scratch_dir, scratch_remove

from ..dispatch import STORYBOARD_ASSEMBLE, STORYBOARD_SCENE
from ..models import Generation, StoryboardScene
from ..outputs import generation_discard_outputs, generation_store_output
from ..progress import StoryboardAssemblyReporter, StoryboardSceneReporter
from ..runtime import (
    JOB_TASK_OPTIONS,
    Heartbeat,
    engine_load,
    look_again_if_runner_may_live,
    procedural_fallback,
    storyboard_recipe,
    video_request,
)
from ..services import (
    generation_mark_canceled,
    generation_mark_failed,
    generation_mark_succeeded,
    worker_name,
)
from .running import (
    storyboard_assembly_mark_running,
    storyboard_assembly_take_over,
    storyboard_scene_heartbeat,
    storyboard_scene_mark_canceled,
    storyboard_scene_mark_failed,
    storyboard_scene_mark_running,
    storyboard_scene_mark_succeeded,
    storyboard_scene_take_over,
    storyboard_set_subtitles,
)

logger = logging.getLogger(__name__)


class SceneHeartbeat(Heartbeat):
    """Touches the scene and its storyboard while the scene runs."""

    def __init__(self, scene, interval: float):
        super().__init__(scene.generation_id, interval)
        self.scene_id = scene.pk

    def beat(self) -> bool:
        return storyboard_scene_heartbeat(scene_id=self.scene_id, generation_id=self.generation_id)


def _scene_start_image(scene, out_dir: Path) -> tuple[str | None, bool]:
    """The scene's start image, and whether it is the previous scene's last frame (chained),
    fetched from storage into the scene's scratch folder `out_dir`."""
    from workers.storyboard.frames import extract_last_frame

    if scene.image:
        return str(media_fetch(scene.image.name, out_dir / "image.png")), False
    if scene.kind != Generation.Kind.IMAGE_TO_VIDEO or scene.index == 0:
        return None, False
    previous = StoryboardScene.objects.get(generation_id=scene.generation_id, index=scene.index - 1)
    if not previous.video:
        raise RuntimeError(f"scene {scene.index} has no clip to chain from")
    handover = out_dir / "start.png"
    extract_last_frame(media_fetch(previous.video.name, out_dir / "previous.mp4"), handover)
    return str(handover), True


@shared_task(name=STORYBOARD_SCENE, **JOB_TASK_OPTIONS)
def storyboard_scene_run(self, scene_id: str) -> str:
    worker = worker_name(self.request.hostname)
    scene = storyboard_scene_mark_running(scene_id=scene_id, worker=worker)
    if scene is None:
        # Already running: a redelivery after its worker died runs the scene again.
        verdict, scene = storyboard_scene_take_over(
            scene_id=scene_id, task_id=self.request.id, worker=worker
        )
        look_again_if_runner_may_live(self, verdict)
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
    # Inputs (the scene's picture, or the clip before it when chained) are fetched and the clip
    # made in a scratch folder of this machine's own, then the clip is stored.
    out_dir = scratch_dir(prefix=f"scene-{scene.pk}")
    notes: list[str] = []
    try:
        image_path, chained = _scene_start_image(scene, out_dir)
        requested = scene.params.get("engine_requested", "auto")
        what = f"scene {scene.index + 1}"
        engine = engine_load(engine=scene.engine, requested=requested, notes=notes, what=what)
        if chained:
            engine = AnchoredEngine(engine, image_path)
        request = video_request(
            kind=scene.kind,
            prompt=scene.prompt,
            negative_prompt=generation.negative_prompt,
            image_path=image_path,
            params=scene.params,
            seed=scene.params.get("seed", 0),
        )
        try:
            result = render_video(request, engine=engine, out_dir=out_dir, progress=reporter)
        except EngineUnavailable as exc:
            # Diffusion engines load their weights on first use, inside render_video.
            fallback = procedural_fallback(
                engine=scene.engine, requested=requested, notes=notes, what=what, exc=exc
            )
            if chained:
                fallback = AnchoredEngine(fallback, image_path)
            result = render_video(request, engine=fallback, out_dir=out_dir, progress=reporter)
        video_name = generation_store_output(
            generation_id=generation.pk,
            path=result.video_path,
            name=f"scenes/{scene.index}/video.mp4",
        )
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
        scratch_remove(out_dir)

    if not storyboard_scene_mark_succeeded(
        scene_id=scene.pk,
        video_name=video_name,
        notes=notes,
        generation_time=result.generation_time,
        recipe=result.recipe,
    ):
        media_delete(video_name)  # canceled meanwhile: not wanted
        return "discarded"
    return "succeeded"


def _narration(generation: Generation, out_dir: Path) -> tuple[str | None, list[str]]:
    """The narration track to mix: the upload, or the text spoken by espeak-ng."""
    from workers.storyboard.audio import synthesize_speech

    if generation.narration_audio:
        name = generation.narration_audio.name
        return str(media_fetch(name, out_dir / f"narration{Path(name).suffix}")), []
    text = generation.params.get("narration_text") or ""
    if not text:
        return None, []
    path = out_dir / "narration.wav"
    synthesize_speech(text, path)
    return str(path), ["narration spoken by espeak-ng"]


@shared_task(name=STORYBOARD_ASSEMBLE, **JOB_TASK_OPTIONS)
def storyboard_assemble(self, generation_id: str) -> str:
    worker = worker_name(self.request.hostname)
    generation = storyboard_assembly_mark_running(generation_id=generation_id, worker=worker)
    if generation is None:
        # Already assembling: a redelivery after its worker died assembles again.
        verdict, generation = storyboard_assembly_take_over(
            generation_id=generation_id, task_id=self.request.id, worker=worker
        )
        look_again_if_runner_may_live(self, verdict)
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
    # The scene clips (and an uploaded narration) are fetched into a scratch folder of this
    # machine's own; the video, thumbnail and subtitles made there are then stored.
    out_dir = scratch_dir(prefix=f"assembly-{generation.pk}")
    p = generation.params
    try:
        reporter("assembling", 0, 100)
        scenes = list(generation.scenes.all())
        audio_path, notes = _narration(generation, out_dir)
        result = assemble_storyboard(
            clips=[
                ClipSpec(
                    media_fetch(s.video.name, out_dir / "scenes" / f"{s.index}.mp4"),
                    transition_to_next=s.transition,
                    duration=s.duration,
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
        video_name = generation_store_output(
            generation_id=generation.pk, path=result.path, name="video.mp4"
        )
        thumbnail_name = generation_store_output(
            generation_id=generation.pk, path=out_dir / "thumbnail.jpg", name="thumbnail.jpg"
        )
        if p.get("narration_text"):
            vtt = out_dir / "subtitles.vtt"
            vtt.write_text(
                narration_to_webvtt(p["narration_text"], duration=result.duration),
                encoding="utf-8",
            )
            subtitles_name = generation_store_output(
                generation_id=generation.pk, path=vtt, name="subtitles.vtt"
            )
            storyboard_set_subtitles(generation_id=generation.pk, subtitles_name=subtitles_name)
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
        scratch_remove(out_dir)

    generation_time, recipe = storyboard_recipe(generation=generation)
    won = generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=video_name,
        thumbnail_name=thumbnail_name,
        width=result.width,
        height=result.height,
        fps=result.fps,
        num_frames=result.num_frames,
        duration_seconds=result.duration,
        engine=generation.engine,
        notes=[*generation.notes, *notes],
        generation_time=generation_time,
        recipe=recipe,
    )
    if not won:
        generation_discard_outputs(generation_id=generation.pk)
        return "discarded"
    return "succeeded"
