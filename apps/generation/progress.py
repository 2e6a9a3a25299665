"""The one progress reporter every engine reports through.

An engine calls `reporter(stage, step, total)`. The reporter
- maps the stage and step onto an overall progress in 0..1 that never goes backwards;
- sends a channel-layer `progress` event per update, with an ETA from the job's own recent
  step time (apps.generation.eta);
- writes the row at most every GENERATION_PROGRESS_MIN_INTERVAL seconds, on every stage change
  and at the end of each stage (the row stays the truth); the write only applies while the job
  is running and no cancel was asked for;
- checks for a cancel at every step (the job's Redis cancel flag, at most every
  CANCEL_CHECK_INTERVAL seconds; the row write refuses a canceled job too) and then raises
  GenerationCanceled, which engines let through: a running job stops at the step after the
  user asked;
- when the job reaches ("saving", n, n), records its timings (before, per and after the
  generating steps) so later ETAs have data.
"""

from __future__ import annotations

import logging
import time
from collections import deque

from django.conf import settings
from django.utils import timezone

from workers.engines.base import GenerationCanceled

from . import eta
from .events import progress_event, send_event
from .models import Generation
from .signals import generation_progressed

logger = logging.getLogger(__name__)

# Share of the overall bar each stage covers: (start, end).
STAGE_SPANS = {
    "queued": (0.0, 0.0),
    "loading model": (0.0, 0.05),
    "generating": (0.05, 0.85),
    "decoding": (0.85, 0.92),
    "encoding": (0.92, 0.97),
    "saving": (0.97, 1.0),
}
GENERATING = "generating"
CANCEL_CHECK_INTERVAL = 0.05  # seconds; steps faster than this share one check
CANCEL_FLAG_TTL = 24 * 3600
RECENT_STEPS = 10  # the window of "recent step time"


# --- the cancel flag ------------------------------------------------------------------------
# The row's `cancel_requested` is the truth (the reporter's write refuses to apply once it is
# set); the flag only lets the reporter notice sooner than its next write, cheaply.


def _cancel_key(generation_id) -> str:
    return f"{eta.key_prefix()}cancel:{generation_id}"


def cancel_flag_raise(generation_id) -> None:
    """Ask a running job's reporter to stop at its next check (services.generation_cancel)."""
    try:
        eta._redis().set(_cancel_key(generation_id), 1, ex=CANCEL_FLAG_TTL)
    except Exception:
        logger.warning("Could not flag %s for cancel; it stops at its next write", generation_id)


def cancel_flag_raised(generation_id) -> bool:
    try:
        return bool(eta._redis().exists(_cancel_key(generation_id)))
    except Exception:
        return False  # the row write decides


def stage_fraction(stage: str, step: int, total: int, *, default: float = 0.0) -> float:
    """Where (stage, step of total) lies on one job's bar; an unknown stage stays at `default`."""
    start, end = STAGE_SPANS.get(stage, (default, default))
    fraction = (step / total) if total else 1.0
    return start + (end - start) * fraction


class ProgressReporter:
    def __init__(self, generation: Generation, *, min_interval: float | None = None, clock=None):
        self.generation = generation
        self.min_interval = (
            settings.GENERATION_PROGRESS_MIN_INTERVAL if min_interval is None else min_interval
        )
        self.clock = clock or time.monotonic
        self.progress = generation.progress
        self.stage = generation.stage
        self.eta_seconds: float | None = None
        self._started = self.clock()  # the job's own wait in the queue is not its work
        self._last_write = float("-inf")
        self._last_check = float("-inf")
        self._shape = eta.job_shape(generation)
        self._profile = eta.profile_get(self._shape)
        self._first_step: tuple[float, int] | None = None  # (time, step) of generating
        self._recent: deque[tuple[float, int]] = deque(maxlen=RECENT_STEPS + 1)
        self._recorded = False

    def __call__(self, stage: str, step: int, total: int) -> None:
        now = self.clock()
        label, value = self._overall(stage, step, total)
        value = min(1.0, max(self.progress, value))
        stage_changed = label != self.stage
        self.progress, self.stage = value, label
        g = self.generation
        g.stage, g.progress, g.step, g.total_steps = label, value, step, total
        if stage == GENERATING:
            if self._first_step is None:
                self._first_step = (now, step)
            self._recent.append((now, step))
        self.eta_seconds = self._estimate(stage, step, total, now)
        # The event first: the database round trips below are not in the live path.
        send_event(
            generation=g, event=progress_event(g, queue_position=None, eta_seconds=self.eta_seconds)
        )
        if stage_changed or step >= total or now - self._last_write >= self.min_interval:
            self._last_write = self._last_check = now
            self._write()
        elif now - self._last_check >= CANCEL_CHECK_INTERVAL:
            self._last_check = now
            self._check_cancel()
        if stage == "saving" and step >= total:
            self._record(now)

    def _overall(self, stage: str, step: int, total: int) -> tuple[str, float]:
        """The stage shown on the job and its overall progress for this report."""
        return stage, stage_fraction(stage, step, total, default=self.progress)

    # --- the row --------------------------------------------------------------------------

    def _write(self) -> None:
        g = self.generation
        written = Generation.objects.filter(
            pk=g.pk, status=Generation.Status.RUNNING, cancel_requested=False
        ).update(
            stage=g.stage,
            progress=g.progress,
            step=g.step,
            total_steps=g.total_steps,
            heartbeat_at=timezone.now(),
            updated_at=timezone.now(),
        )
        if not written:  # canceled, or no longer running (reaped, finished elsewhere)
            raise GenerationCanceled()
        eta.running_publish(generation_id=g.pk, eta_seconds=self.eta_seconds)
        generation_progressed.send(sender=Generation, generation=g)

    def _check_cancel(self) -> None:
        """Between row writes: the cancel flag in Redis (a key read, no database round trip on
        the engine's step path). Without Redis the next row write still stops the job."""
        if cancel_flag_raised(self.generation.pk):
            raise GenerationCanceled()

    # --- timing ---------------------------------------------------------------------------

    def _step_time(self) -> float | None:
        """Seconds per generating step over the recent window, else the measured profile."""
        if len(self._recent) >= 2:
            (t0, s0), (t1, s1) = self._recent[0], self._recent[-1]
            if s1 > s0:
                return (t1 - t0) / (s1 - s0)
        return self._profile.step if self._profile else None

    def _estimate(self, stage: str, step: int, total: int, now: float) -> float | None:
        profile = self._profile
        if stage == "saving" and step >= total:
            return 0.0
        if stage == GENERATING:
            per_step = self._step_time()
            if per_step is None:
                return None
            post = profile.post if profile else 0.0
            return round(max(0, total - step) * per_step + post, 1)
        if profile is None or self._shape is None:
            return None
        if self._first_step is None:  # before the first step: loading, setting up
            waited = now - self._started
            return round(
                max(0.0, profile.pre - waited) + self._shape.steps * profile.step + profile.post,
                1,
            )
        last_step_at = self._recent[-1][0]
        return round(max(0.0, profile.post - (now - last_step_at)), 1)

    def _record(self, now: float) -> None:
        if self._recorded or self._first_step is None or self._shape is None:
            return
        self._recorded = True
        (t_first, s_first), (t_last, s_last) = self._first_step, self._recent[-1]
        if s_last > s_first:
            per_step = (t_last - t_first) / (s_last - s_first)
        else:  # one report only: the time before it is all we know
            per_step = (t_first - self._started) / max(1, s_first)
        pre = max(0.0, t_first - self._started - s_first * per_step)
        eta.sample_record(shape=self._shape, pre=pre, step=per_step, post=now - t_last)


# --- storyboards: scenes and assembly on the parent's one bar ---------------------------------

SCENES_SHARE = 0.9  # the scenes fill 0..0.9 of a storyboard's bar, the assembly the rest


class StoryboardSceneReporter(ProgressReporter):
    """A scene's engine reports as any job's; the storyboard (the parent) shows the whole.

    The stage reads "scene 2 of 4"; the overall progress is the scenes' mean progress scaled
    to SCENES_SHARE (the other scenes' progress is read back at every write, so parallel scenes
    add up). Each write also records the scene's own progress and heartbeat, and, like any
    job's write, raises GenerationCanceled once the storyboard is no longer running.
    """

    def __init__(self, generation: Generation, *, scene, scene_count: int, **kwargs):
        super().__init__(generation, **kwargs)
        self.scene = scene
        self.scene_count = max(1, scene_count)
        self.scene_progress = 0.0
        self._others = self._read_others()

    def _read_others(self) -> float:
        from .models import StoryboardScene

        return float(
            sum(
                StoryboardScene.objects.filter(generation_id=self.generation.pk)
                .exclude(pk=self.scene.pk)
                .values_list("progress", flat=True)
            )
        )

    def _overall(self, stage: str, step: int, total: int) -> tuple[str, float]:
        own = stage_fraction(stage, step, total, default=self.scene_progress)
        self.scene_progress = min(1.0, max(self.scene_progress, own))
        label = f"scene {self.scene.index + 1} of {self.scene_count}"
        return label, SCENES_SHARE * min(
            1.0, (self._others + self.scene_progress) / self.scene_count
        )

    def _estimate(self, stage: str, step: int, total: int, now: float) -> float | None:
        return None

    def _write(self) -> None:
        from .models import StoryboardScene

        StoryboardScene.objects.filter(
            pk=self.scene.pk, status=StoryboardScene.Status.RUNNING
        ).update(progress=self.scene_progress, heartbeat_at=timezone.now())
        super()._write()
        self._others = self._read_others()


class StoryboardAssemblyReporter(ProgressReporter):
    """The assembly fills the last part of a storyboard's bar, as stage "assembling"."""

    def _overall(self, stage: str, step: int, total: int) -> tuple[str, float]:
        fraction = min(1.0, step / total) if total else 1.0
        return "assembling", SCENES_SHARE + (1.0 - SCENES_SHARE) * fraction

    def _estimate(self, stage: str, step: int, total: int, now: float) -> float | None:
        return None
