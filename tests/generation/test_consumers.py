"""The websocket consumers, through the real ASGI application (origin check, auth, routing).

Channels' WebsocketCommunicator drives `config.asgi.application` in-process over the real
Redis channel layer (the run's prefix). Each scenario is a coroutine run with async_to_sync, so
the consumers' database calls run in the test's thread, on the test database.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation import services
from apps.generation.models import Generation
from config.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clean_eta")]

CONTRACT_PROGRESS = {
    "type",
    "id",
    "status",
    "stage",
    "progress",
    "step",
    "total_steps",
    "queue_position",
    "eta_seconds",
}
CONTRACT_FINISHED = {"type", "id", "status", "video_url", "thumbnail_url", "error"}
T2V_PARAMS = {"num_frames": 8, "fps": 8, "width": 128, "height": 72, "enhance_prompt": False}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)


def create(user, **params) -> Generation:
    return services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="neon rain over a quiet harbour",
        params={**T2V_PARAMS, **params},
    ).generation


def headers(*, user=None, origin: str = "http://testserver", cookie: str = "") -> list:
    result = [(b"host", b"testserver"), (b"origin", origin.encode())]
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        result.append((b"authorization", f"Token {token.key}".encode()))
    if cookie:
        result.append((b"cookie", cookie.encode()))
    return result


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def connect(path: str, hdrs: list) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, path, headers=hdrs)
    connected, _ = await communicator.connect(timeout=5)
    return communicator, connected


async def receive_until(communicator, predicate, *, limit: int = 10) -> dict:
    for _ in range(limit):
        event = await communicator.receive_json_from(timeout=5)
        if predicate(event):
            return event
    raise AssertionError("the expected event never came")


async def close_code(communicator) -> int:
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.close", message
    return message.get("code")


def run(coroutine_function):
    return async_to_sync(coroutine_function)()


# --- snapshots and events -------------------------------------------------------------------


def test_owner_gets_a_queued_snapshot_with_position_by_token(user):
    first, second = create(user), create(user)
    hdrs = headers(user=user)

    async def scenario():
        ws, connected = await connect(f"/ws/generations/{second.pk}/", hdrs)
        assert connected
        snapshot = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert set(snapshot) == CONTRACT_PROGRESS
    assert snapshot["type"] == "progress"
    assert snapshot["id"] == str(second.pk)
    assert (snapshot["status"], snapshot["stage"]) == ("queued", "queued")
    assert snapshot["queue_position"] == 2
    assert snapshot["eta_seconds"] is None  # no measured throughput yet
    assert first.pk != second.pk


def test_user_socket_with_session_cookie_snapshots_active_and_recent_jobs(user, other_user):
    queued = create(user)
    done = create(user)
    services.generation_mark_canceled(generation_id=done.pk, from_statuses=["queued"])
    create(other_user)
    cookie = session_cookie(user)

    async def scenario():
        ws, connected = await connect("/ws/me/", headers(cookie=cookie))
        assert connected
        snapshot = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert snapshot["type"] == "snapshot"
    by_id = {event["id"]: event for event in snapshot["generations"]}
    assert set(by_id) == {str(queued.pk), str(done.pk)}
    assert set(by_id[str(queued.pk)]) == CONTRACT_PROGRESS
    assert by_id[str(queued.pk)]["queue_position"] == 1
    assert set(by_id[str(done.pk)]) == CONTRACT_FINISHED
    assert by_id[str(done.pk)]["status"] == "canceled"


def test_group_events_reach_both_sockets_and_the_queue_moves(user):
    first, second = create(user), create(user)
    hdrs = headers(user=user)

    async def scenario():
        one, _ = await connect(f"/ws/generations/{first.pk}/", hdrs)
        waiting, _ = await connect(f"/ws/generations/{second.pk}/", hdrs)
        me, _ = await connect("/ws/me/", hdrs)
        for ws in (one, waiting, me):
            await ws.receive_json_from(timeout=5)  # the snapshots
        await database_sync_to_async(services.generation_mark_running)(
            generation_id=first.pk, worker="w"
        )
        running = await receive_until(one, lambda e: e["status"] == "running")
        moved = await receive_until(waiting, lambda e: e["queue_position"] == 1)
        seen_by_me = await receive_until(me, lambda e: e["id"] == str(first.pk))
        for ws in (one, waiting, me):
            await ws.disconnect()
        return running, moved, seen_by_me

    running, moved, seen_by_me = run(scenario)
    assert running["type"] == "progress" and running["queue_position"] is None
    assert moved["id"] == str(second.pk) and moved["status"] == "queued"
    assert seen_by_me["status"] == "running"


def test_staff_may_follow_anyones_generation(user, staff_user):
    generation = create(user)
    hdrs = headers(user=staff_user)

    async def scenario():
        ws, connected = await connect(f"/ws/generations/{generation.pk}/", hdrs)
        snapshot = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return connected, snapshot

    connected, snapshot = run(scenario)
    assert connected and snapshot["id"] == str(generation.pk)


# --- refusals -------------------------------------------------------------------------------


def test_stranger_is_refused_before_joining_the_group(user, other_user):
    generation = create(user)
    hdrs = headers(user=other_user)

    async def scenario():
        ws, _ = await connect(f"/ws/generations/{generation.pk}/", hdrs)
        code = await close_code(ws)
        await database_sync_to_async(services.generation_mark_running)(
            generation_id=generation.pk, worker="w"
        )
        leaked = await ws.receive_nothing(timeout=0.5)
        await ws.disconnect()
        return code, leaked

    code, nothing_leaked = run(scenario)
    assert code == 4404
    assert nothing_leaked


def test_unknown_generation_is_refused_like_a_strangers(user):
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect("/ws/generations/00000000-0000-0000-0000-000000000000/", hdrs)
        return await close_code(ws)

    assert run(scenario) == 4404


@pytest.mark.parametrize("path", ["/ws/me/", "/ws/generations/{id}/"])
def test_anonymous_is_refused(user, path):
    generation = create(user)

    async def scenario():
        ws, _ = await connect(path.format(id=generation.pk), headers())
        return await close_code(ws)

    assert run(scenario) == 4401


def test_a_bad_token_is_anonymous(user):
    async def scenario():
        hdrs = [*headers(), (b"authorization", b"Token not-a-real-key")]
        ws, _ = await connect("/ws/me/", hdrs)
        return await close_code(ws)

    assert run(scenario) == 4401


def test_foreign_origin_is_refused_at_the_handshake(user):
    generation = create(user)
    hdrs = headers(user=user, origin="https://evil.example")

    async def scenario():
        results = []
        for path in ("/ws/me/", f"/ws/generations/{generation.pk}/"):
            ws, connected = await connect(path, hdrs)
            results.append(connected)
            await ws.disconnect()
        return results

    assert run(scenario) == [False, False]


# --- client messages ------------------------------------------------------------------------


def test_cancel_message_cancels_a_queued_job_and_refunds_once(user):
    generation = create(user)
    before = credits_balance(user=user)
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect(f"/ws/generations/{generation.pk}/", hdrs)
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "cancel"})
        finished = await receive_until(ws, lambda e: e["type"] == "finished")
        await ws.send_json_to({"type": "cancel"})
        refused = await receive_until(ws, lambda e: e["type"] == "error")
        await ws.disconnect()
        return finished, refused

    finished, refused = run(scenario)
    assert set(finished) == CONTRACT_FINISHED
    assert finished["status"] == "canceled" and finished["video_url"] is None
    assert refused["code"] == "not_cancelable"
    generation.refresh_from_db()
    assert generation.status == "canceled"
    refunds = LedgerEntry.objects.filter(kind="refund", reference=generation.spend_reference)
    assert refunds.count() == 1
    assert credits_balance(user=user) == before + generation.cost_credits


def test_cancel_message_asks_a_running_job_to_stop(user):
    generation = create(user)
    services.generation_mark_running(generation_id=generation.pk, worker="w")
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect(f"/ws/generations/{generation.pk}/", hdrs)
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "cancel"})
        reply = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return reply

    reply = run(scenario)
    assert reply["type"] == "progress" and reply["status"] == "running"
    generation.refresh_from_db()
    assert generation.cancel_requested and generation.status == "running"


def test_user_socket_cancels_by_id_and_only_own_jobs(user, other_user):
    mine, theirs = create(user), create(other_user)
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect("/ws/me/", hdrs)
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "cancel"})
        missing_id = await receive_until(ws, lambda e: e["type"] == "error")
        await ws.send_json_to({"type": "cancel", "id": str(theirs.pk)})
        foreign = await receive_until(ws, lambda e: e["type"] == "error")
        await ws.send_json_to({"type": "cancel", "id": str(mine.pk)})
        canceled = await receive_until(ws, lambda e: e["type"] == "finished")
        await ws.disconnect()
        return missing_id, foreign, canceled

    missing_id, foreign, canceled = run(scenario)
    assert missing_id["code"] == "not_found"
    assert foreign["code"] == "not_found"
    assert canceled["id"] == str(mine.pk) and canceled["status"] == "canceled"
    theirs.refresh_from_db()
    assert theirs.status == "queued"


def test_snapshot_message_answers_a_fresh_snapshot_of_the_asked_ids(user, other_user):
    mine, theirs = create(user), create(other_user)
    services.generation_mark_canceled(generation_id=mine.pk, from_statuses=["queued"])
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect("/ws/me/", hdrs)
        await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "snapshot", "ids": [str(mine.pk), str(theirs.pk), "x"]})
        snapshot = await receive_until(ws, lambda e: e["type"] == "snapshot")
        await ws.disconnect()
        return snapshot

    snapshot = run(scenario)
    assert [e["id"] for e in snapshot["generations"]] == [str(mine.pk)]
    assert snapshot["generations"][0]["status"] == "canceled"


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("not json", "invalid_json"),
        (json.dumps([1, 2]), "invalid"),
        (json.dumps({"no": "type"}), "invalid"),
        (json.dumps({"type": "dance"}), "unknown_type"),
        (json.dumps({"type": "snapshot", "ids": "nope"}), "invalid"),
    ],
)
def test_invalid_messages_get_an_error_and_the_socket_stays_open(user, message, code):
    hdrs = headers(user=user)

    async def scenario():
        ws, _ = await connect("/ws/me/", hdrs)
        await ws.receive_json_from(timeout=5)
        await ws.send_to(text_data=message)
        error = await ws.receive_json_from(timeout=5)
        await ws.send_json_to({"type": "snapshot"})
        still_open = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return error, still_open

    error, still_open = run(scenario)
    assert error["type"] == "error" and error["code"] == code and error["detail"]
    assert still_open["type"] == "snapshot"
