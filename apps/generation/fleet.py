"""Which workers serve which queue: a presence registry in Redis, read by the queue schedule.

Every Celery worker's main process (not its pool children) records, for each queue it consumes,
its hostname and concurrency with the time it was last seen:

- `<prefix>fleet:<queue>`: a sorted set of hostnames, scored by the time last seen;
- `<prefix>fleet:<queue>:slots`: a hash, hostname → concurrency,

under the install's channel layer prefix (one namespace per install, like the ETA keys). A
worker registers when it is ready (`worker_ready`: before celery logs "ready."), refreshes every
REFRESH seconds from a daemon thread, and removes itself at shutdown (`worker_shutdown`). An
entry not refreshed for STALE seconds (a worker killed without its shutdown, a machine gone) is
ignored, and pruned by the next read. Times are the workers' own clocks: a skew of a few seconds
between machines only shifts when an entry goes stale.

The queue schedule (eta.schedule) gives a queue max(running jobs, registered slots, 1) slots, so
an idle worker counts. Without Redis, `queue_slots` answers None and the schedule counts the
running jobs, as before the registry. A worker consuming several queues counts its concurrency
in each of them (it takes whichever job comes first).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from apps.core.redis import install_key_prefix, redis_client

logger = logging.getLogger(__name__)

REFRESH = 10.0  # seconds between a worker's refreshes
STALE = 30.0  # an entry older than this is a worker that is gone
KEY_TTL = 300  # the keys themselves go once no worker of the install refreshed them for 5 min

# Module-level name, so a test can point this module at a Redis that is down.
_redis = redis_client


def key_prefix() -> str:
    """Beside the channel layer's keys, under its prefix (one namespace per install)."""
    return install_key_prefix("fleet")


def _queue_key(queue: str) -> str:
    return f"{key_prefix()}{queue}"


def _slots_key(queue: str) -> str:
    return f"{key_prefix()}{queue}:slots"


def worker_register(
    *, hostname: str, queues: Iterable[str], concurrency: int, now: float | None = None
) -> None:
    """Record (or refresh) that `hostname` serves `queues` with `concurrency` slots."""
    now = time.time() if now is None else now
    pipe = _redis().pipeline(transaction=True)
    for queue in queues:
        pipe.zadd(_queue_key(queue), {hostname: now})
        pipe.hset(_slots_key(queue), hostname, int(concurrency))
        pipe.expire(_queue_key(queue), KEY_TTL)
        pipe.expire(_slots_key(queue), KEY_TTL)
    pipe.execute()


def worker_unregister(*, hostname: str, queues: Iterable[str]) -> None:
    pipe = _redis().pipeline(transaction=True)
    for queue in queues:
        pipe.zrem(_queue_key(queue), hostname)
        pipe.hdel(_slots_key(queue), hostname)
    pipe.execute()


def queue_workers(queue: str, *, now: float | None = None) -> dict[str, int]:
    """{hostname: concurrency} of the workers seen on `queue` in the last STALE seconds.

    Raises redis' errors when Redis cannot be reached (`queue_slots` turns that into None).
    """
    now = time.time() if now is None else now
    queue_key, slots_key = _queue_key(queue), _slots_key(queue)
    pipe = _redis().pipeline(transaction=True)
    pipe.zremrangebyscore(queue_key, "-inf", now - STALE)
    pipe.zrange(queue_key, 0, -1)
    pipe.hgetall(slots_key)
    _, live, slots = pipe.execute()
    live = {name.decode() for name in live}
    slots = {name.decode(): int(value) for name, value in slots.items()}
    stale = set(slots) - live
    if stale:
        _redis().hdel(slots_key, *stale)
    return {name: slots[name] for name in sorted(live) if name in slots}


def queue_slots(queue: str) -> int | None:
    """Slots the live workers of `queue` offer (0: none registered); None without Redis."""
    try:
        return sum(queue_workers(queue).values())
    except Exception:  # the schedule falls back to counting running jobs
        logger.warning("Could not read the workers of queue %s", queue, exc_info=True)
        return None


# --- the worker side: celery signals, in the worker's main process ----------------------------


class _Presence:
    """One worker's registration: made at ready, refreshed by a daemon thread, removed at stop."""

    def __init__(self, *, hostname: str, queues: Callable[[], set[str]], concurrency: int):
        self.hostname = hostname
        self.concurrency = concurrency
        self._queues = queues
        self._registered: set[str] = set()
        self._stopped = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="fleet-presence", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(REFRESH):
            self.beat()

    def beat(self) -> None:
        try:
            queues = self._queues()
            gone = self._registered - queues
            if gone:
                worker_unregister(hostname=self.hostname, queues=gone)
            worker_register(hostname=self.hostname, queues=queues, concurrency=self.concurrency)
            self._registered = queues
        except Exception:  # Redis down: the schedule counts running jobs meanwhile
            if not self._failing:
                logger.warning("Could not register worker %s", self.hostname, exc_info=True)
            self._failing = True
        else:
            if self._failing:
                logger.warning("Worker %s is registered again", self.hostname)
            self._failing = False

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=REFRESH)
        try:
            worker_unregister(hostname=self.hostname, queues=self._registered)
        except Exception:  # its entries go stale in STALE seconds anyway
            logger.warning("Could not unregister worker %s", self.hostname, exc_info=True)


_presence: _Presence | None = None


def _consumed_queues(consumer) -> set[str]:
    """The queues the worker consumes now (`celery control add_consumer` can change them)."""
    task_consumer = getattr(consumer, "task_consumer", None)
    if task_consumer is not None:
        return {queue.name for queue in task_consumer.queues}
    return set(consumer.app.amqp.queues.consume_from)


def _concurrency(consumer) -> int:
    limit = getattr(getattr(consumer, "pool", None), "limit", None)  # solo and threads included
    return int(limit or getattr(consumer.controller, "concurrency", None) or 1)


def on_worker_ready(sender, **kwargs) -> None:
    """celery's worker_ready: `sender` is the worker's consumer."""
    global _presence
    if _presence is not None:
        _presence.stop()
    _presence = _Presence(
        hostname=sender.hostname,
        queues=lambda: _consumed_queues(sender),
        concurrency=_concurrency(sender),
    )
    _presence.start()


def on_worker_shutdown(sender, **kwargs) -> None:
    global _presence
    if _presence is not None:
        _presence.stop()
        _presence = None


def connect_worker_signals() -> None:
    """Called from the app's ready(); the signals only fire in a worker's main process."""
    from celery import signals

    signals.worker_ready.connect(on_worker_ready, weak=False, dispatch_uid="fleet-ready")
    signals.worker_shutdown.connect(on_worker_shutdown, weak=False, dispatch_uid="fleet-shutdown")
