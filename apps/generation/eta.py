"""Estimated time to finish, from measured throughput (never from guesses, never from waits).

What is measured. The progress reporter times each finished job on the worker and records one
sample per job: `pre` (seconds from start to the first generating step: model load, setup),
`step` (seconds per generating step: a frame for the procedural engine, a denoising step for
diffusion) and `post` (seconds after the last generating step: decode, encode, save). Samples go
to Redis lists with a rolling window of WINDOW jobs, under two keys: the exact bucket (engine,
width x height, frames per step) and the whole engine, normalised per megapixel of one step. A
job's own time in the queue is never part of a sample: the clock starts when a worker takes it.

How it is used.
- running job: the reporter's own recent step time x the steps left, plus the measured `post`;
  the reporter publishes that figure (RUNNING_KEY, a few seconds' life) so a snapshot or REST
  read gets the same number, counted down by the time since it was published;
- queued job: a list schedule over the queue's slots (as many as its live workers offer, by the
  fleet registry, or as it has running jobs if more, at least one): each slot frees when its
  running job's remaining time is up (an idle one at once), each job ahead
  takes the slot that frees first for its expected time, and the job then adds its own expected
  time (`pre + steps x step + post`);
- anything without data (no sample yet for the engine, Redis down) is None: "unknown" beats a
  made-up number.

A Redis outage is logged once per process: one WARNING at the first failed read or write
("The ETA store (Redis) is unreachable ..."), the failures after it at DEBUG, and one INFO
("... is reachable again") at the first success after it. A running job writes its ETA about
twice a second, so a traceback per write would bury the log.
"""

from __future__ import annotations

import heapq
import json
import logging
import statistics
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from apps.core.redis import install_key_prefix, redis_client

from . import fleet
from .models import Generation

logger = logging.getLogger(__name__)

WINDOW = 20  # jobs per rolling window
SAMPLE_TTL = 30 * 24 * 3600  # a bucket nobody used for a month is forgotten
RUNNING_TTL = 3600
DIFFUSION_ENGINES = ("svd", "zeroscope")
PRE_STAGES = ("queued", "loading model")
MAX_QUEUE_SCAN = 1000  # jobs ahead that a queue estimate looks at; beyond that: unknown

# Module-level name, so a test can point this module at a Redis that is down.
_redis = redis_client


class _Outage:
    """Whether this process last found Redis unreachable: one warning per outage, one info when
    it ends."""

    def __init__(self):
        self.down = False
        self._lock = threading.Lock()

    def failed(self, action: str, exc: BaseException) -> None:
        with self._lock:
            first, self.down = not self.down, True
        if first:
            logger.warning(
                "The ETA store (Redis) is unreachable (could not %s: %s: %s); ETAs are unknown "
                "until it is back",
                action,
                type(exc).__name__,
                exc,
            )
        else:
            logger.debug("The ETA store is still unreachable (could not %s)", action, exc_info=exc)

    def succeeded(self) -> None:
        if not self.down:  # the usual case, without the lock
            return
        with self._lock:
            was_down, self.down = self.down, False
        if was_down:
            logger.info("The ETA store (Redis) is reachable again; ETAs are measured again")


_outage = _Outage()


def key_prefix() -> str:
    """ETA keys live beside the channel layer's keys, under its prefix (one namespace per site)."""
    prefix = getattr(settings, "GENERATION_ETA_REDIS_PREFIX", None)
    if prefix:
        return prefix
    return install_key_prefix("eta")


@dataclass(frozen=True)
class JobShape:
    """What decides a job's speed: the engine, the frame size, how many frames one step makes."""

    engine: str
    width: int
    height: int
    frames_per_step: int
    steps: int  # generating steps expected (frames, or denoising steps)

    @property
    def bucket(self) -> str:
        return f"{self.engine}:{self.width}x{self.height}x{self.frames_per_step}"

    @property
    def step_megapixels(self) -> float:
        return max(1e-6, self.width * self.height * self.frames_per_step / 1e6)


@dataclass(frozen=True)
class Profile:
    """Measured seconds: before the first step, per step, after the last step."""

    pre: float
    step: float
    post: float

    def total(self, steps: int) -> float:
        return self.pre + steps * self.step + self.post


def job_shape(generation: Generation) -> JobShape | None:
    p = generation.params or {}
    try:
        width, height, frames = int(p["width"]), int(p["height"]), int(p["num_frames"])
    except (KeyError, TypeError, ValueError):
        return None
    if generation.engine == "procedural":
        return JobShape("procedural", width, height, 1, frames)
    if generation.engine in DIFFUSION_ENGINES:
        steps = int(p.get("num_inference_steps") or 25)
        return JobShape(generation.engine, width, height, frames, steps)
    return None


# --- samples --------------------------------------------------------------------------------


def _bucket_key(shape: JobShape) -> str:
    return f"{key_prefix()}bucket:{shape.bucket}"


def _engine_key(engine: str) -> str:
    return f"{key_prefix()}engine:{engine}"


def _running_key(generation_id) -> str:
    return f"{key_prefix()}running:{generation_id}"


def sample_record(*, shape: JobShape, pre: float, step: float, post: float) -> None:
    """Add one finished job's timings to the rolling windows of its bucket and its engine."""
    mpx = shape.step_megapixels
    exact = json.dumps({"pre": pre, "step": step, "post": post})
    normalised = json.dumps({"pre": pre, "step": step / mpx, "post": post / mpx})
    try:
        pipe = _redis().pipeline(transaction=False)
        for key, value in ((_bucket_key(shape), exact), (_engine_key(shape.engine), normalised)):
            pipe.lpush(key, value)
            pipe.ltrim(key, 0, WINDOW - 1)
            pipe.expire(key, SAMPLE_TTL)
        pipe.execute()
    except Exception as exc:  # ETA is best effort
        _outage.failed(f"record the timings of {shape.bucket}", exc)
        return
    _outage.succeeded()


def _median_profile(raw: Iterable[bytes], scale: float = 1.0) -> Profile | None:
    samples = [json.loads(item) for item in raw]
    if not samples:
        return None
    return Profile(
        pre=statistics.median(s["pre"] for s in samples),
        step=statistics.median(s["step"] for s in samples) * scale,
        post=statistics.median(s["post"] for s in samples) * scale,
    )


def profile_get(shape: JobShape | None) -> Profile | None:
    """Median timings of the last WINDOW jobs of this bucket, else of the engine, scaled."""
    if shape is None:
        return None
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.lrange(_bucket_key(shape), 0, -1)
        pipe.lrange(_engine_key(shape.engine), 0, -1)
        exact, engine_wide = pipe.execute()
    except Exception as exc:
        _outage.failed(f"read the timings of {shape.bucket}", exc)
        return None
    _outage.succeeded()
    return _median_profile(exact) or _median_profile(engine_wide, scale=shape.step_megapixels)


class Profiles(dict):
    """Profiles by bucket, read once per estimate."""

    def for_generation(self, generation: Generation) -> tuple[JobShape | None, Profile | None]:
        shape = job_shape(generation)
        if shape is None:
            return None, None
        if shape.bucket not in self:
            self[shape.bucket] = profile_get(shape)
        return shape, self[shape.bucket]


def running_publish(*, generation_id, eta_seconds: float | None) -> None:
    """The reporter's current estimate for a running job, for snapshots and REST reads."""
    try:
        key = _running_key(generation_id)
        if eta_seconds is None:
            _redis().delete(key)
        else:
            value = json.dumps({"eta": eta_seconds, "at": time.time()})
            _redis().set(key, value, ex=RUNNING_TTL)
    except Exception as exc:
        _outage.failed(f"publish the ETA of {generation_id}", exc)
        return
    _outage.succeeded()


def _running_published(generation_id) -> float | None:
    try:
        raw = _redis().get(_running_key(generation_id))
    except Exception as exc:
        _outage.failed(f"read the ETA of {generation_id}", exc)
        return None
    _outage.succeeded()
    if not raw:
        return None
    data = json.loads(raw)
    return max(0.0, data["eta"] - (time.time() - data["at"]))


# --- estimates ------------------------------------------------------------------------------


def expected_total(generation: Generation, profiles: Profiles) -> float | None:
    """How long the job takes once a worker starts it."""
    shape, profile = profiles.for_generation(generation)
    if profile is None:
        return None
    return profile.total(shape.steps)


def running_remaining(generation: Generation, profiles: Profiles, *, now=None) -> float | None:
    """Seconds left for a running job: the reporter's figure, else the profile and the row."""
    published = _running_published(generation.pk)
    if published is not None:
        return published
    shape, profile = profiles.for_generation(generation)
    if profile is None:
        return None
    if generation.stage in PRE_STAGES or not generation.total_steps:
        now = now or timezone.now()
        elapsed = (now - generation.started_at).total_seconds() if generation.started_at else 0
        return max(0.0, profile.pre - elapsed) + shape.steps * profile.step + profile.post
    if generation.stage == "generating":
        left = max(0, generation.total_steps - generation.step)
        return left * profile.step + profile.post
    return profile.post  # decoding, encoding, saving: at most the measured tail


def _queued_ahead(generation: Generation):
    return Generation.objects.filter(
        Q(created_at__lt=generation.created_at)
        | Q(created_at=generation.created_at, id__lt=generation.id),
        queue=generation.queue,
        status=Generation.Status.QUEUED,
    ).order_by("created_at", "id")


def schedule(
    *,
    running: Iterable[Generation],
    queued: Iterable[Generation],
    profiles: Profiles,
    capacity: int | None = None,
) -> Iterator[tuple[Generation, float | None]]:
    """(job, seconds until it finishes) for each queued job in order, by a list schedule.

    Slots: `capacity` (what the queue's workers offer; None: unknown), or one per running job
    if there are more, at least one. A running job's slot frees when its remaining time is up,
    the others are free now. Every queued job takes the slot that frees first. Once one time is
    unknown, the rest are.
    """
    slots: list[float] = []
    known = True
    for job in running:
        remaining = running_remaining(job, profiles)
        if remaining is None:
            known = False
            break
        slots.append(remaining)
    slots.extend([0.0] * (max(1, capacity or 0) - len(slots)))
    heapq.heapify(slots)
    for job in queued:
        total = expected_total(job, profiles) if known else None
        if total is None:
            known = False
            yield job, None
            continue
        start = heapq.heappop(slots)
        heapq.heappush(slots, start + total)
        yield job, start + total


def _running_in(queue: str):
    return Generation.objects.filter(queue=queue, status=Generation.Status.RUNNING)


def eta_seconds(generation: Generation) -> float | None:
    """Seconds until this generation should finish; None when finished or without data."""
    profiles = Profiles()
    if generation.status == Generation.Status.RUNNING:
        remaining = running_remaining(generation, profiles)
        return None if remaining is None else round(remaining, 1)
    if generation.status != Generation.Status.QUEUED:
        return None
    if expected_total(generation, profiles) is None:
        return None
    ahead = list(_queued_ahead(generation)[:MAX_QUEUE_SCAN])
    if len(ahead) >= MAX_QUEUE_SCAN:
        return None
    return _scheduled_finish(generation, ahead, profiles)


def _scheduled_finish(generation: Generation, ahead: list, profiles: Profiles) -> float | None:
    """When the queued `generation` ends if the jobs `ahead` of it run first (s, or None)."""
    result = None
    for job, finish in schedule(
        running=_running_in(generation.queue),
        queued=[*ahead, generation],
        profiles=profiles,
        capacity=fleet.queue_slots(generation.queue),
    ):
        if job.pk == generation.pk:
            result = finish
    return None if result is None else round(result, 1)


def queue_standing(generation: Generation) -> tuple[int | None, float | None]:
    """(1-based queue position, ETA) of one job, from one read of the jobs ahead of it.

    What `generation_queue_position` and `eta_seconds` say, without reading the queue twice:
    when the ETA is measurable, the jobs ahead that its schedule reads also give the position;
    otherwise the position is their count. A job no longer queued has no position.
    """
    if generation.status != Generation.Status.QUEUED:
        return None, eta_seconds(generation)
    profiles = Profiles()
    ahead = _queued_ahead(generation)
    if expected_total(generation, profiles) is None:
        return ahead.count() + 1, None
    waiting = list(ahead[:MAX_QUEUE_SCAN])
    if len(waiting) >= MAX_QUEUE_SCAN:
        return ahead.count() + 1, None
    return len(waiting) + 1, _scheduled_finish(generation, waiting, profiles)


def queue_estimates(queue: str) -> list[tuple[Generation, int, float | None]]:
    """(job, 1-based position, ETA) for the first MAX_QUEUE_SCAN queued jobs of `queue`."""
    queued = list(
        Generation.objects.filter(queue=queue, status=Generation.Status.QUEUED).order_by(
            "created_at", "id"
        )[:MAX_QUEUE_SCAN]
    )
    if not queued:
        return []
    etas = schedule(
        running=_running_in(queue),
        queued=queued,
        profiles=Profiles(),
        capacity=fleet.queue_slots(queue),
    )
    return [
        (job, position, None if eta is None else round(eta, 1))
        for position, (job, eta) in enumerate(etas, start=1)
    ]
