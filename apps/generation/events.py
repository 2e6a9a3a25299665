"""Live events for a generation, sent to channel-layer groups (best effort, at most once).

The Generation row is the truth; a client that misses an event gets a fresh snapshot when it
reconnects. Groups: `generation.<id>` (one job) and `user.<user id>` (all of a user's jobs).
Message: `{"type": "generation.event", "event": <progress or finished event>}`.

Sync code (workers, services) publishes on the platform's channel layer (pub/sub) from the
calling thread: one pipelined round trip of PUBLISHes through the process's Redis client
(`_publish_direct`). Another channel layer is sent to on one event loop per process (see
_Publisher), so its Redis connections stay open between events.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Iterable

from channels.layers import get_channel_layer
from channels_redis.utils import _consistent_hash, decode_hosts

from apps.core.redis import redis_client_for

from . import eta
from .channel_layer import RedisChannelLayer
from .models import Generation
from .selectors import (
    generation_eta_seconds,
    generation_queue_estimates,
    generation_queue_position,
    generation_queue_standings,
)

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 5.0
SEND_CONCURRENCY = 16
_UNSET = object()


def group_for_generation(generation_id) -> str:
    return f"generation.{generation_id}"


def group_for_user(user_id) -> str:
    return f"user.{user_id}"


def _media_path(generation: Generation, name: str) -> str | None:
    if not getattr(generation, name):
        return None
    from django.urls import reverse

    return reverse("generation-media", kwargs={"pk": generation.pk, "name": name})


def progress_event(generation: Generation, *, queue_position=_UNSET, eta_seconds=_UNSET) -> dict:
    """The contract's `progress` event; position and ETA are computed unless given (both at
    once from one read of the queue, eta.queue_standing, when neither is)."""
    if queue_position is _UNSET and eta_seconds is _UNSET:
        queue_position, eta_seconds = eta.queue_standing(generation)
    if queue_position is _UNSET:
        queue_position = generation_queue_position(generation=generation)
    if eta_seconds is _UNSET:
        eta_seconds = generation_eta_seconds(generation=generation)
    return {
        "type": "progress",
        "id": str(generation.pk),
        "status": generation.status,
        "stage": generation.stage,
        "progress": round(generation.progress, 4),
        "step": generation.step,
        "total_steps": generation.total_steps,
        "queue_position": queue_position,
        "eta_seconds": eta_seconds,
    }


def finished_event(generation: Generation) -> dict:
    return {
        "type": "finished",
        "id": str(generation.pk),
        "status": generation.status,
        "video_url": _media_path(generation, "video"),
        "thumbnail_url": _media_path(generation, "thumbnail"),
        "error": generation.error or None,
    }


def snapshot_event(generation: Generation) -> dict:
    return finished_event(generation) if generation.is_finished else progress_event(generation)


def snapshot_events(generations: list[Generation]) -> list[dict]:
    """`snapshot_event` of each, the queued ones' positions and ETAs from one schedule per queue."""
    standings = generation_queue_standings(generations=generations)
    events = []
    for generation in generations:
        standing = standings.get(generation.pk)
        if standing is None:
            events.append(snapshot_event(generation))
        else:
            position, eta_value = standing
            events.append(
                progress_event(generation, queue_position=position, eta_seconds=eta_value)
            )
    return events


# --- publishing -----------------------------------------------------------------------------


class _Publisher:
    """Runs channel-layer sends from sync code on one event loop per process, in its own thread.

    `async_to_sync` would start a loop, and open new Redis connections, for every call. So would
    a loop kept per calling thread in the web tier, where Django runs each request in a thread of
    its own: every create left a loop and two Redis connections behind (200 per 100 creates, held
    until the process ended), and paid for the connects. One loop, started on first use and again
    after a fork (Celery's prefork pool: the parent's loop thread does not exist in the child),
    keeps its connections for every caller. The caller waits for its send, so successive sends
    stay in order; a thread whose own loop is running (a greenlet-based client such as
    Playwright's sync API, or sync code called from async code) can send too.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="events-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, coroutine, *, timeout: float = PUBLISH_TIMEOUT):
        future = asyncio.run_coroutine_threadsafe(
            asyncio.wait_for(coroutine, timeout), self._running_loop()
        )
        try:
            return future.result(timeout=timeout + 1)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise


_publisher = _Publisher()
_failing = threading.Event()  # the last publish failed (and that was logged)


def _messages(generation: Generation, event: dict) -> list[tuple[str, dict]]:
    message = {"type": "generation.event", "event": event}
    return [
        (group_for_generation(generation.pk), message),
        (group_for_user(generation.user_id), message),
    ]


_routes: dict[int, tuple] = {}  # id(layer) -> (layer, route); a layer lives as long as Django


def _direct_route(layer) -> tuple[str, list] | None:
    """(the layer's prefix, one Redis client per shard) when `layer` is the platform's pub/sub
    layer on plain Redis URLs, so its group messages can be PUBLISHed from the calling thread;
    None for any other layer (or hosts given as options), which gets the layer's own sends."""
    try:
        return _routes[id(layer)][1]
    except KeyError:
        pass
    route = None
    if isinstance(layer, RedisChannelLayer) and not layer._args:
        hosts = decode_hosts(layer._kwargs.get("hosts"))
        if all(set(host) == {"address"} and isinstance(host["address"], str) for host in hosts):
            route = (
                str(layer._kwargs.get("prefix", "asgi")),
                [redis_client_for(host["address"]) for host in hosts],
            )
    _routes[id(layer)] = (layer, route)
    return route


def _publish_direct(layer, route: tuple[str, list], messages: list[tuple[str, dict]]) -> None:
    """What the layer's `group_send` does for each (group, message), the same channel name
    (`<prefix>__group__<group>`), shard and serialized bytes, in one pipelined round trip per
    shard from the calling thread: no hand-over to the publisher's loop and back (about 1.8 ms
    of a create's CPU in process, more under load, where every request's sends queued behind
    one connection's lock there). A connection that dropped since its last use is made again
    and the round trip repeated by redis-py's own retry (as the layer's publish tries once
    more, apps/generation/channel_layer.py); a Redis that is down fails within the client's
    one-second timeouts (apps/core/redis.py), and send_events logs it."""
    prefix, clients = route
    by_shard: dict[int, list[tuple[str, bytes]]] = {}
    serialized: dict[int, bytes] = {}
    for group, message in messages:
        channel = f"{prefix}__group__{group}"
        data = serialized.get(id(message))
        if data is None:
            data = serialized[id(message)] = layer.serialize(message)
        by_shard.setdefault(_consistent_hash(channel, len(clients)), []).append((channel, data))
    for shard, publishes in by_shard.items():
        pipe = clients[shard].pipeline(transaction=False)
        for channel, data in publishes:
            pipe.publish(channel, data)
        pipe.execute()


def send_events(items: Iterable[tuple[Generation, dict]]) -> None:
    """Send each (generation, event) to the job's and its owner's groups; wait until sent.

    Events of different jobs, or of one job to its two groups, have no order to keep; they go
    in one round trip (or, on another layer, concurrently). Successive calls stay in order (each
    waits for the one before).
    """
    layer = get_channel_layer()
    if layer is None:
        return
    messages = [m for generation, event in items for m in _messages(generation, event)]
    if not messages:
        return
    route = _direct_route(layer)

    async def send_all():
        # Concurrently (a job's two groups, the waiting jobs of a queue), a few at a time.
        limit = asyncio.Semaphore(SEND_CONCURRENCY)

        async def send(group, message):
            async with limit:
                await layer.group_send(group, message)

        await asyncio.gather(*(send(group, message) for group, message in messages))

    try:
        if route is not None:
            _publish_direct(layer, route, messages)
        else:
            _publisher.run(send_all())
    except Exception:  # the channel layer is best effort; the row stays the truth
        # Once per outage with the traceback, not for every event of a running job.
        if not _failing.is_set():
            _failing.set()
            logger.warning(
                "Could not publish %d live event(s); until it works again, failures are "
                "logged at DEBUG",
                len(messages),
                exc_info=True,
            )
        else:
            logger.debug("Could not publish %d live event(s)", len(messages), exc_info=True)
    else:
        if _failing.is_set():
            _failing.clear()
            logger.warning("Live events are published again")


def send_event(*, generation: Generation, event: dict) -> None:
    send_events([(generation, event)])


def generation_broadcast(*, generation_id, finished: bool = False, generation=None) -> None:
    """Send the job's current state; when it left the queue or finished, refresh the queue.

    A job that starts, finishes or is canceled moves the queue: every job still waiting in the
    same queue gets a fresh `progress` event with its new position and ETA.

    `generation`: the row as it is now, when the caller holds it (a job just created), so it is
    not read again. The queue position and ETA of its `progress` event are left on it as
    `live_standing` (position, ETA), so the API's response to that create reports the same
    figures without computing them a second time (GenerationOutputSerializer).
    """
    if generation is None:
        generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return
    if finished:
        event = finished_event(generation)
    else:
        event = progress_event(generation)
        generation.live_standing = (event["queue_position"], event["eta_seconds"])
    items = [(generation, event)]
    if generation.status != Generation.Status.QUEUED:
        items += queue_events(queue=generation.queue)
    send_events(items)


def queue_events(*, queue: str) -> list[tuple[Generation, dict]]:
    """A fresh `progress` event for every job waiting in `queue`."""
    try:
        estimates = generation_queue_estimates(queue=queue)
    except Exception:
        logger.warning("Could not estimate queue %s", queue, exc_info=True)
        return []
    return [
        (job, progress_event(job, queue_position=position, eta_seconds=eta_value))
        for job, position, eta_value in estimates
    ]
