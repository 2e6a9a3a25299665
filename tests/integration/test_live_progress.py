"""Live progress over the real stack: daphne, a Celery worker process, Redis, a websocket client.

A `websockets` client authenticates with the `Authorization: Token` header, as a script would.
"""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token
from websockets.asyncio.client import connect

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SMALL = {"num_frames": 24, "width": 320, "height": 192, "fps": 8, "enhance_prompt": False}
LONG = {"num_frames": 120, "width": 1024, "height": 576, "fps": 8, "enhance_prompt": False}


class Subscriber:
    """A websocket client on its own event loop thread; events land in a queue for the test."""

    def __init__(self, url: str, *, token: str, origin: str):
        self.seen: list[dict] = []
        self._events: queue.Queue = queue.Queue()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        headers = {"Authorization": f"Token {token}"}

        async def open_socket():
            return await connect(url, additional_headers=headers, origin=origin)

        self._ws = self._call(open_socket())
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), self._loop)

    def _call(self, coroutine, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    async def _read(self):
        try:
            async for message in self._ws:
                self._events.put(json.loads(message))
        finally:
            self._events.put({"type": "_closed", "code": self._ws.close_code})

    def send(self, message: dict) -> None:
        self._call(self._ws.send(json.dumps(message)))

    def next(self, predicate=lambda event: True, *, timeout: float = 120) -> dict:
        """The next event that matches; every event read is kept in `seen`."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event; seen: {self.seen[-5:]}")
            try:
                event = self._events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if event["type"] == "_closed":
                raise AssertionError(f"socket closed ({event['code']}); seen: {self.seen[-5:]}")
            if predicate(event):
                return event

    def close(self) -> None:
        try:
            self._call(self._ws.close(), timeout=5)
            self._reader.result(timeout=5)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.fixture
def token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.fixture
def session(token):
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token}"
    yield s
    s.close()


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://", 1) + path


def create(session, base: str, params: dict, prompt: str = "neon rain over the harbour") -> str:
    response = session.post(
        f"{base}/api/v1/generations/",
        json={"kind": "text_to_video", "engine": "procedural", "prompt": prompt, "params": params},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def wait_for(generation_id: str, predicate, timeout: float = 30) -> Generation:
    deadline = time.monotonic() + timeout
    while True:
        generation = Generation.objects.get(pk=generation_id)
        if predicate(generation):
            return generation
        assert time.monotonic() < deadline, f"timed out; status {generation.status}"
        time.sleep(0.02)


def test_subscriber_sees_its_queue_place_then_rising_progress_then_the_video(
    live_web, session, token, user
):
    ahead = create(session, live_web, SMALL)
    job = create(session, live_web, SMALL, prompt="a lighthouse in violet fog")
    with (
        Subscriber(
            ws_url(live_web, f"/ws/generations/{job}/"), token=token, origin=live_web
        ) as sub,
        Subscriber(ws_url(live_web, "/ws/me/"), token=token, origin=live_web) as me,
    ):
        # No worker yet: both wait, this one behind the other.
        snapshot = sub.next()
        assert snapshot["type"] == "progress" and snapshot["status"] == "queued"
        assert snapshot["queue_position"] == 2
        mine = me.next(lambda e: e["type"] == "snapshot")
        assert {e["id"] for e in mine["generations"]} >= {ahead, job}

        with processes.celery_worker(queues="cpu"):
            moved = sub.next(lambda e: e["status"] == "queued" and e["queue_position"] == 1)
            assert moved["id"] == job
            first_running = sub.next(lambda e: e["status"] == "running")
            finished = sub.next(lambda e: e["type"] == "finished")
            me.next(lambda e: e["id"] == job and e["type"] == "finished")

    running = [e for e in sub.seen if e["type"] == "progress" and e["status"] == "running"]
    assert running[0] is first_running
    values = [e["progress"] for e in running]
    assert values == sorted(values), "progress went backwards"
    assert values[0] < values[-1]
    assert {"generating", "encoding", "saving"} <= {e["stage"] for e in running}
    generating = [e for e in running if e["stage"] == "generating"]
    assert [e["step"] for e in generating] == sorted(e["step"] for e in generating)
    assert generating[-1]["step"] == generating[-1]["total_steps"] == SMALL["num_frames"]
    # The job ahead finished first and left its timings: the waiting job got an estimate.
    assert any(e["eta_seconds"] is not None for e in sub.seen if e["type"] == "progress")
    assert all(e["queue_position"] is None for e in running)

    assert finished["status"] == "succeeded", finished["error"]
    assert finished["error"] is None
    video = session.get(f"{live_web}{finished['video_url']}", timeout=10)
    assert video.status_code == 200 and video.headers["Content-Type"] == "video/mp4"
    thumbnail = session.get(f"{live_web}{finished['thumbnail_url']}", timeout=10)
    assert thumbnail.status_code == 200
    assert Generation.objects.get(pk=ahead).status == "succeeded"


@pytest.mark.parametrize("via", ["socket", "rest"])
def test_cancel_of_a_running_job_stops_it_within_a_step_and_refunds_once(
    live_web, worker, session, token, user, via
):
    before = credits_balance(user=user)
    job = create(session, live_web, LONG, prompt="a long slow pan across the stars")
    url = ws_url(live_web, f"/ws/generations/{job}/")
    with Subscriber(url, token=token, origin=live_web) as sub:
        sub.next(lambda e: e["status"] == "running" and e["step"] >= 3)
        if via == "socket":
            sub.send({"type": "cancel"})
        else:
            response = session.post(f"{live_web}/api/v1/generations/{job}/cancel/", timeout=10)
            assert response.status_code == 200, response.text
        row = wait_for(job, lambda g: g.cancel_requested or g.status == "canceled")
        # The cancel is committed: the worker can write no step past this one.
        step_at_cancel = row.step
        finished = sub.next(lambda e: e["type"] == "finished")

    assert finished["status"] == "canceled"
    assert finished["video_url"] is None
    reported = [
        e["step"] for e in sub.seen if e["type"] == "progress" and e["stage"] == "generating"
    ]
    assert max(reported) <= step_at_cancel + 1
    generation = Generation.objects.get(pk=job)
    assert generation.status == "canceled"
    assert generation.step <= step_at_cancel + 1 < LONG["num_frames"]
    assert not (Path(settings.MEDIA_ROOT) / "generations" / job).exists()
    refunds = LedgerEntry.objects.filter(kind="refund", reference=f"generation:{job}")
    assert refunds.count() == 1
    assert credits_balance(user=user) == before
