"""What every media task shares: its Celery options, the heartbeat thread, loading an engine
(with the procedural fallback of `auto`), and the plain request an engine gets.

Engines are imported lazily, inside the task, so a web process never loads torch.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

from .engines import engine_model
from .models import Generation
from .services import generation_heartbeat

logger = logging.getLogger(__name__)

# Every task that makes media: redelivered if its worker dies (acks_late + reject), bounded in
# time (the soft limit fails the job with a message; the hard limit kills the child).
JOB_TASK_OPTIONS = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": settings.GENERATION_SOFT_TIME_LIMIT,
    "time_limit": settings.GENERATION_TIME_LIMIT,
}
# How often a redelivered job whose runner may still be alive looks again before it gives up
# (the reaper then ends the job if that runner is in fact gone).
TAKEOVER_LOOKS = 4
# Params the engines take beyond VideoRequest's own fields.
ENGINE_EXTRA_PARAMS = (
    "min_guidance_scale",
    "max_guidance_scale",
    "decode_chunk_size",
    "model",
    "quality",
)


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


def engine_options(engine: str) -> dict:
    if engine == "procedural":
        return {}
    return {"model": engine_model(engine), "device": settings.TORCH_DEVICE or None}


def engine_load(*, engine: str, requested: str, notes: list[str], what: str = ""):
    """The engine to run; an `auto` request whose model cannot load runs on procedural."""
    from workers.engines import get_engine
    from workers.engines.base import EngineUnavailable

    try:
        return get_engine(engine, **engine_options(engine))
    except EngineUnavailable as exc:
        return procedural_fallback(
            engine=engine, requested=requested, notes=notes, what=what, exc=exc
        )


def procedural_fallback(*, engine: str, requested: str, notes: list[str], what: str = "", exc):
    """An `auto` job whose model cannot load runs on the procedural engine, and says so in
    `notes`; any other request fails with the engine's error. `what` names a storyboard's scene
    ("scene 2"), whose note is shorter: the storyboard lists one per scene."""
    from workers.engines import get_engine

    if requested != "auto" or engine == "procedural":
        raise exc
    if what:
        notes.append(f"{what}: {engine} was unavailable; used procedural.")
    else:
        notes.append(f"{engine} was unavailable ({exc}); used the procedural engine.")
    logger.warning("Falling back to procedural (%s, %s): %s", what or "job", engine, exc)
    return get_engine("procedural")


def video_request(*, kind: str, prompt: str, negative_prompt: str, image_path, params, seed):
    """The plain request (workers.engines.base.VideoRequest) for a job's or a scene's params."""
    from workers.engines.base import VideoRequest

    return VideoRequest(
        kind=kind,
        prompt=params.get("final_prompt", prompt),
        negative_prompt=negative_prompt,
        image_path=image_path,
        width=params["width"],
        height=params["height"],
        fps=params["fps"],
        num_frames=params["num_frames"],
        num_inference_steps=params.get("num_inference_steps", 25),
        guidance_scale=params.get("guidance_scale", 9.0),
        motion_strength=params.get("motion_strength", 0.5),
        noise_aug_strength=params.get("noise_aug_strength", 0.02),
        seed=seed,
        extra={k: v for k, v in params.items() if k in ENGINE_EXTRA_PARAMS},
    )


def look_again_if_runner_may_live(task, verdict: str) -> None:
    """After a take-over answer of "wait" (the job's runner may be alive on another machine):
    retry this delivery once a heartbeat is due, TAKEOVER_LOOKS times at most, then give up
    (the reaper ends the job if that runner is in fact gone)."""
    if verdict == "wait" and task.request.retries < TAKEOVER_LOOKS:
        raise task.retry(
            countdown=2 * settings.GENERATION_HEARTBEAT_INTERVAL, max_retries=TAKEOVER_LOOKS
        )


def storyboard_recipe(*, generation: Generation) -> tuple[float, dict]:
    """A storyboard's `generation_time` is the sum of its scenes', and its `recipe` the facts
    every scene shares (each scene keeps its own); written by its success transition."""
    scenes = list(generation.scenes.values_list("generation_time", "recipe"))
    times = [seconds for seconds, _ in scenes if seconds is not None]
    return (sum(times) if times else 0.0), common_recipe([recipe for _, recipe in scenes])


def common_recipe(recipes: list[dict]) -> dict:
    """The keys whose value is the same in every recipe (none when one is missing)."""
    if not recipes or any(not recipe for recipe in recipes):
        return {}
    first, rest = recipes[0], recipes[1:]
    return {key: value for key, value in first.items() if all(r.get(key) == value for r in rest)}
