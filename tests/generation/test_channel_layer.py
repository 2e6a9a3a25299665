"""The platform's channel layer (apps/generation/channel_layer.py) over the real Redis.

Two layer instances stand for two processes (a worker that publishes, a daphne that
subscribes). A lost connection is a real one: Redis is told to `CLIENT KILL` the subscriber's
socket, as a Redis restart or a network blip would drop it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings

from apps.generation import services
from apps.generation.channel_layer import RECONNECTED, RedisChannelLayer
from apps.generation.models import Generation
from config.asgi import application
from tests.generation.test_consumers import T2V_PARAMS, headers
from tests.processes import free_port, redis_server

EVENT_TYPE = "generation.event"


def make_layer(prefix: str) -> RedisChannelLayer:
    return RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=prefix)


def kill_subscriber_connection(layer: RedisChannelLayer) -> None:
    """Drop the subscribing socket of `layer` (in the running loop) from the Redis side."""
    kill(layer._get_layer()._shards[0]._pubsub.connection)


def kill_publisher_connections(layer: RedisChannelLayer) -> None:
    pool = layer._get_layer()._shards[0]._redis.connection_pool
    assert pool._available_connections
    for connection in pool._available_connections:
        kill(connection)


def kill(connection) -> None:
    host, port = connection._writer.get_extra_info("sockname")[:2]
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        assert client.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
    finally:
        client.close()


async def receive(layer, channel, timeout: float = 5.0) -> dict:
    return await asyncio.wait_for(layer.receive(channel), timeout)


def test_group_send_reaches_every_member_in_another_process_until_discarded():
    prefix = f"asgi-test-{uuid.uuid4().hex}:"

    async def scenario():
        sender, receiver = make_layer(prefix), make_layer(prefix)
        try:
            a, b = await receiver.new_channel(), await receiver.new_channel()
            for channel in (a, b):
                await receiver.group_add("generation.g", channel)
            await receiver.group_add("user.u", a)
            # No wait: group_add returns once Redis confirmed the subscription.
            for n in range(3):
                await sender.group_send("generation.g", {"type": EVENT_TYPE, "n": n})
            await sender.group_send("user.u", {"type": EVENT_TYPE, "n": "u"})
            got_a = [(await receive(receiver, a))["n"] for _ in range(4)]
            got_b = [(await receive(receiver, b))["n"] for _ in range(3)]
            await receiver.group_discard("generation.g", b)
            await sender.group_send("generation.g", {"type": EVENT_TYPE, "n": 9})
            after_a = (await receive(receiver, a))["n"]
            with pytest.raises(asyncio.TimeoutError):
                await receive(receiver, b, timeout=0.3)
            return got_a, got_b, after_a
        finally:
            await sender.flush()
            await receiver.flush()

    got_a, got_b, after_a = asyncio.run(scenario())
    assert got_a == [0, 1, 2, "u"]
    assert got_b == [0, 1, 2]
    assert after_a == 9


def test_group_add_returns_only_once_redis_confirmed_the_subscription(monkeypatch):
    """Like the stock layer's (its ZADD is awaited): an event published after group_add
    returns cannot race the SUBSCRIBE. Confirmations are held back here to make it visible."""
    from apps.generation import channel_layer

    order = []
    handle = channel_layer._ResyncingPubSub.handle_message

    async def slow_confirmations(self, response, ignore_subscribe_messages=False):
        if isinstance(response, list) and response[0] == b"subscribe":
            await asyncio.sleep(0.2)
            order.append(("confirmed", response[1].decode()))
        return await handle(self, response, ignore_subscribe_messages)

    monkeypatch.setattr(channel_layer._ResyncingPubSub, "handle_message", slow_confirmations)
    prefix = f"asgi-test-{uuid.uuid4().hex}:"

    async def scenario():
        layer = make_layer(prefix)
        try:
            channel = await layer.new_channel()
            order.append(("returned", "new_channel"))
            await layer.group_add("generation.g", channel)
            order.append(("returned", "group_add"))
            return channel
        finally:
            await layer.flush()

    channel = asyncio.run(scenario())
    assert order == [
        ("confirmed", channel),
        ("returned", "new_channel"),
        ("confirmed", f"{prefix}__group__generation.g"),
        ("returned", "group_add"),
    ]


def test_dropped_connections_resync_the_subscribers_channels_and_lose_no_publish():
    prefix = f"asgi-test-{uuid.uuid4().hex}:"

    async def scenario():
        sender, receiver = make_layer(prefix), make_layer(prefix)
        try:
            channels = [await receiver.new_channel() for _ in range(2)]
            for channel in channels:
                await receiver.group_add("generation.g", channel)
            await sender.group_send("generation.g", {"type": EVENT_TYPE, "n": 1})
            before = [(await receive(receiver, c))["n"] for c in channels]

            kill_subscriber_connection(receiver)
            resync = [await receive(receiver, c) for c in channels]
            # Back and subscribed again: the group reaches both channels once more.
            await sender.group_send("generation.g", {"type": EVENT_TYPE, "n": 2})
            after = [(await receive(receiver, c))["n"] for c in channels]
            # The sender's connection drops too: its next publish reconnects, nothing is lost.
            kill_publisher_connections(sender)
            await sender.group_send("generation.g", {"type": EVENT_TYPE, "n": 3})
            after += [(await receive(receiver, c))["n"] for c in channels]
            return before, resync, after
        finally:
            await sender.flush()
            await receiver.flush()

    before, resync, after = asyncio.run(scenario())
    assert before == [1, 1]
    assert resync == [RECONNECTED, RECONNECTED]
    assert after == [2, 2, 3, 3]


def test_a_redis_outage_is_one_warning_and_its_end_resyncs_the_channels(caplog):
    """Redis itself goes away for a few seconds (a private redis-server, stopped and started
    again on its port): the receive loop says so once, not with a traceback every second, and
    when Redis is back the channels get the resync and group messages flow again."""
    caplog.set_level(logging.WARNING)
    port, prefix = free_port(), f"asgi-test-{uuid.uuid4().hex}:"
    loop = asyncio.new_event_loop()
    try:
        with redis_server(port) as url:
            layer = RedisChannelLayer(hosts=[url], prefix=prefix)

            async def subscribe():
                channel = await layer.new_channel()
                await layer.group_add("generation.g", channel)
                await layer.group_send("generation.g", {"type": EVENT_TYPE, "n": 1})
                return channel, (await receive(layer, channel))["n"]

            channel, first = loop.run_until_complete(subscribe())
        # Redis is gone: about three tries to reconnect.
        loop.run_until_complete(asyncio.sleep(3.5))
        during = [r for r in caplog.records if r.levelno >= logging.WARNING]

        with redis_server(port):

            async def after_outage():
                resync = await receive(layer, channel, timeout=10)
                await layer.group_send("generation.g", {"type": EVENT_TYPE, "n": 2})
                return resync, (await receive(layer, channel))["n"]

            resync, second = loop.run_until_complete(after_outage())
            loop.run_until_complete(layer.flush())
    finally:
        loop.close()

    assert (first, resync, second) == (1, RECONNECTED, 2)
    assert [r.getMessage().split(" (")[0] for r in during] == [
        "Channel layer: lost the Redis subscriber connection"
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("connection is back" in r.getMessage() for r in caplog.records)


@pytest.mark.django_db(transaction=True)
def test_a_socket_that_missed_the_end_during_a_redis_drop_still_gets_finished(user, monkeypatch):
    """The job ends while daphne's subscriber connection is down, so its `finished` is lost
    (here: never published); when the connection is back the consumer sends the row's state."""
    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)
    generation = services.generation_create(
        user=user, kind="text_to_video", prompt="a lighthouse at dusk", params=T2V_PARAMS
    ).generation
    hdrs = headers(user=user)

    async def scenario():
        ws = WebsocketCommunicator(application, f"/ws/generations/{generation.pk}/", headers=hdrs)
        connected, _ = await ws.connect(timeout=5)
        assert connected
        first = await ws.receive_json_from(timeout=5)
        await database_sync_to_async(Generation.objects.filter(pk=generation.pk).update)(
            status="succeeded", stage="saving", progress=1.0
        )
        assert await ws.receive_nothing(timeout=0.2)  # nothing was published
        kill_subscriber_connection(get_channel_layer())
        second = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return first, second

    first, second = async_to_sync(scenario)()
    assert (first["type"], first["status"]) == ("progress", "queued")
    assert (second["type"], second["id"], second["status"]) == (
        "finished",
        str(generation.pk),
        "succeeded",
    )
