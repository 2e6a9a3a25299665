"""The live events' PUBLISHes go from the calling thread (apps.generation.events._publish_direct)
on the platform's pub/sub layer: what a subscriber of the layer receives is what the layer's own
group_send delivers, a dropped connection is tried again, and another layer still gets its own
sends through the publisher's loop."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from apps.generation import events
from apps.generation.models import Generation


def _received(layer, generation: Generation, send) -> list[dict]:
    """Subscribe a channel to the job's and the user's groups, call `send` (sync, from this
    thread's running loop, as a greenlet client would), return what the channel got."""

    async def scenario():
        channel = await layer.new_channel()
        groups = [events.group_for_generation(generation.pk), events.group_for_user(1234567)]
        for group in groups:
            await layer.group_add(group, channel)
        send()
        got = [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(2)]
        for group in groups:
            await layer.group_discard(group, channel)
        return got

    return asyncio.run(scenario())


@pytest.fixture
def no_publisher_loop(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("sent through the publisher's loop")

    monkeypatch.setattr(events._publisher, "run", refuse)


def test_both_groups_get_the_event_from_the_calling_thread(no_publisher_loop):
    layer = get_channel_layer()
    assert events._direct_route(layer) is not None
    generation = Generation(id=uuid.uuid4(), user_id=1234567)
    event = {"type": "progress", "id": str(generation.pk), "n": 1}
    got = _received(
        layer, generation, lambda: events.send_event(generation=generation, event=event)
    )
    assert got == [{"type": "generation.event", "event": event}] * 2


def test_the_same_bytes_as_the_layers_own_group_send():
    layer = get_channel_layer()
    generation = Generation(id=uuid.uuid4(), user_id=1234567)
    event = {"type": "progress", "id": str(generation.pk), "eta_seconds": 1.5, "x": "é"}
    ours = _received(
        layer, generation, lambda: events.send_event(generation=generation, event=event)
    )

    def theirs():
        for group in (events.group_for_generation(generation.pk), events.group_for_user(1234567)):
            events._publisher.run(
                layer.group_send(group, {"type": "generation.event", "event": event})
            )

    assert ours == _received(layer, generation, theirs)


def test_a_dropped_connection_is_tried_again_without_a_warning(no_publisher_loop, caplog):
    layer = get_channel_layer()
    prefix, clients = events._direct_route(layer)
    generation = Generation(id=uuid.uuid4(), user_id=1234567)
    events.send_event(generation=generation, event={"type": "progress", "n": 0})  # connected
    client = clients[0]
    idle = list(client.connection_pool._available_connections)  # this client's own, only
    assert idle
    ids = []
    for conn in idle:
        conn.send_command("CLIENT", "ID")
        ids.append(conn.read_response())
    killer = redis.Redis.from_url(settings.REDIS_URL)  # a connection of its own
    try:
        for conn_id in ids:
            killer.client_kill_filter(_id=conn_id)  # the killed ones still look open here
        assert not set(ids) & {int(c["id"]) for c in killer.client_list()}
    finally:
        killer.close()
    event = {"type": "progress", "n": 1}
    caplog.set_level("DEBUG", logger=events.logger.name)
    got = _received(
        layer, generation, lambda: events.send_event(generation=generation, event=event)
    )
    assert got == [{"type": "generation.event", "event": event}] * 2
    assert not [r for r in caplog.records if r.name == events.logger.name]


def test_another_layer_gets_its_own_sends(monkeypatch):
    layer = InMemoryChannelLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    assert events._direct_route(layer) is None
    generation = Generation(id=uuid.uuid4(), user_id=1234567)
    event = {"type": "progress", "n": 2}
    # The in-memory layer lives on one loop: subscribe and receive on the publisher's.
    channel = events._publisher.run(layer.new_channel())
    for group in (events.group_for_generation(generation.pk), events.group_for_user(1234567)):
        events._publisher.run(layer.group_add(group, channel))
    events.send_event(generation=generation, event=event)
    got = [events._publisher.run(layer.receive(channel)) for _ in range(2)]
    assert got == [{"type": "generation.event", "event": event}] * 2
