"""The platform's channel layer: Redis pub/sub, plus a resync signal after a lost connection.

Live progress only ever broadcasts to groups, and every event carries the job's full state,
with the database row as the truth. That is what Redis pub/sub is for: channels_redis'
`RedisPubSubChannelLayer` sends a group message with one PUBLISH, and each daphne process
receives it on one subscribed connection and hands it to its consumers in memory. The stock
`RedisChannelLayer` instead keeps a sorted set per channel and group (four Redis round trips per
`group_send`, then a blocking pop per receiving process); it roughly doubles the report →
websocket latency (BENCHMARKS.md, "Live progress").

What pub/sub gives up is the queue: a message published while a subscriber's connection is
down is lost, silently (channels_redis issue #256; its `on_reconnect` option is accepted but
never called). This layer closes that gap. When a subscriber connection comes back (redis-py
re-subscribes it), every channel of the process receives `{"type": "layer.reconnected"}`,
after the re-subscription has been written, and the consumers answer it with a fresh snapshot
from the database (apps/generation/consumers.py). A client that stayed connected through the
blip therefore still ends on the right state, `finished` included. On the sending side, a
publish on a connection that dropped since its last use is tried once more (it reconnects).
And a subscription (`new_channel`, `group_add`) returns once Redis confirmed it, as the stock
layer's does, so a consumer's snapshot taken after `group_add` misses no event.

Use: CHANNEL_LAYERS["default"]["BACKEND"] = "apps.generation.channel_layer.RedisChannelLayer"
(the default; `CHANNEL_LAYER_BACKEND` in the environment chooses another). It subclasses
channels_redis 4.3's pub/sub classes (pinned in requirements/base.txt); the tests in
tests/generation/test_channel_layer.py kill its Redis connection for real.
"""

from __future__ import annotations

import asyncio
import logging

from channels_redis.pubsub import (
    RedisPubSubChannelLayer,
    RedisPubSubLoopLayer,
    RedisSingleShardConnection,
)
from channels_redis.utils import _wrap_close, decode_hosts
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.utils import str_if_bytes

logger = logging.getLogger(__name__)

RECONNECTED = {"type": "layer.reconnected"}
SUBSCRIBE_CONFIRM_TIMEOUT = 5.0
RECONNECT_INTERVAL = 1.0  # seconds between tries while Redis is unreachable


class _ResyncingPubSub(PubSub):
    """redis-py's PubSub, which tells its shard when its connection is made again.

    redis-py calls `on_connect` when it reconnects a subscribed connection (the first connect
    happens in the pool, before the callback is registered, with nothing to subscribe yet).
    """

    def __init__(self, *args, shard: _Shard, **kwargs):
        super().__init__(*args, **kwargs)
        self._shard = shard
        self._confirmations: dict[str, list[asyncio.Future]] = {}

    def subscribed_future(self, channel: str) -> asyncio.Future:
        """Done when Redis confirms the next SUBSCRIBE of `channel` (read by the receive loop)."""
        future = asyncio.get_running_loop().create_future()
        self._confirmations.setdefault(channel, []).append(future)
        return future

    async def handle_message(self, response, ignore_subscribe_messages=False):
        if isinstance(response, list) and str_if_bytes(response[0]) == "subscribe":
            for future in self._confirmations.pop(str_if_bytes(response[1]), []):
                if not future.done():
                    future.set_result(None)
        return await super().handle_message(response, ignore_subscribe_messages)

    async def on_connect(self, connection):
        had_subscriptions = bool(self.channels or self.patterns)
        await super().on_connect(connection)  # re-subscribes (written before we signal)
        if had_subscriptions:
            self._shard.reconnected()


class _Shard(RedisSingleShardConnection):
    _lost = False  # the subscriber connection is down and has been reported once

    async def subscribe(self, channel):
        """Subscribe, and return once Redis has the subscription (as the stock layer's
        `group_add` returns once its ZADD is done): what is published afterwards arrives."""
        confirmed = None
        async with self._lock:
            if channel not in self._subscribed_to:
                self._ensure_redis()
                self._ensure_receiver()
                confirmed = self._pubsub.subscribed_future(channel)
                await self._pubsub.subscribe(channel)
                self._subscribed_to.add(channel)
        if confirmed is not None:
            try:
                await asyncio.wait_for(confirmed, SUBSCRIBE_CONFIRM_TIMEOUT)
            except TimeoutError:
                logger.warning("Channel layer: Redis did not confirm SUBSCRIBE %s", channel)

    async def publish(self, channel, message):
        try:
            await super().publish(channel, message)
        except RedisConnectionError:
            # A connection dropped since its last use fails once, then reconnects. (Were the
            # first one delivered after all, the event comes twice: harmless, it is a state.)
            await super().publish(channel, message)

    async def _do_receiving(self):
        """channels_redis' receive loop, with an outage reported once, not once a second.

        Theirs logs "Unexpected exception in receive task" with a traceback for every failed
        reconnect. Here a lost or refused connection is one warning when it starts and one
        (`reconnected`) when it ends; anything else still gets the traceback.
        """
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=0.1
                    )
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (TimeoutError, asyncio.CancelledError, GeneratorExit):
                raise
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if not self._lost:
                    self._lost = True
                    logger.warning(
                        "Channel layer: lost the Redis subscriber connection (%s); "
                        "trying again every %g s",
                        exc,
                        RECONNECT_INTERVAL,
                    )
                await asyncio.sleep(RECONNECT_INTERVAL)
            except BaseException:
                logger.exception("Channel layer: unexpected exception in the receive loop")
                await asyncio.sleep(RECONNECT_INTERVAL)

    def _ensure_redis(self):
        if self._redis is None:
            super()._ensure_redis()
            self._pubsub = _ResyncingPubSub(self._redis.connection_pool, shard=self)

    def reconnected(self) -> None:
        self._lost = False
        layer = self.channel_layer
        logger.warning(
            "Channel layer: the Redis subscriber connection is back; resyncing %d channel(s)",
            len(layer.channels),
        )
        message = layer.channel_layer.serialize(RECONNECTED)
        for queue in layer.channels.values():
            queue.put_nowait(message)


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, hosts=None, *args, **kwargs):
        super().__init__(hosts, *args, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]


class RedisChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self):
        loop = asyncio.get_running_loop()
        try:
            return self._layers[loop]
        except KeyError:
            layer = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            self._layers[loop] = layer
            _wrap_close(self, loop)
            return layer
