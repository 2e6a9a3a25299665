"""`ailounge.Client` against the real running platform (daphne + a Celery worker)."""

import uuid
from pathlib import Path

import av
import pytest
from ailounge import Client, Event, InsufficientCredits, NotFound, ValidationError, live
from django.conf import settings
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_spend
from tests.clients.conftest import SMALL, WATCHED
from tests.factories import UserFactory
from tests.images import png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def decoded_frames(path: Path) -> tuple[int, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return frames, (stream.codec_context.width, stream.codec_context.height)


def test_generate_waits_on_live_events_and_downloads_a_playable_mp4(
    live_web, worker, client, user, tmp_path
):
    events: list[Event] = []
    quote = client.quote("text_to_video", **WATCHED)

    job = client.generate(
        kind="text_to_video",
        prompt="neon rain over a quiet harbour",
        params=WATCHED,
        wait=True,
        on_progress=events.append,
    )

    assert job.status == "succeeded", job.error
    assert job.progress == 1.0 and job.video_url and job.engine == "procedural"
    assert any(e.type == "progress" for e in events)
    # They came over the websocket (its events carry no prompt; a polled Generation does).
    assert all("prompt" not in e.data for e in events)
    figures = [e.progress for e in events if e.type == "progress"]
    assert figures == sorted(figures)
    assert events[-1].type == "finished" and events[-1].status == "succeeded"
    assert all(e.id == job.id for e in events)
    assert job.cost_credits == quote.credits == int(quote)
    assert client.me()["credits"] == settings.FREE_CREDITS - job.cost_credits

    path = client.download(job.id, tmp_path / "rain.mp4")
    assert path == tmp_path / "rain.mp4"
    assert decoded_frames(path) == (WATCHED["num_frames"], (WATCHED["width"], WATCHED["height"]))
    assert not list(tmp_path.glob("*.part"))


def test_image_to_video_from_a_file_then_get_and_list(
    live_web, worker, client, tmp_path, monkeypatch
):
    picture = tmp_path / "photo.png"
    picture.write_bytes(png_bytes(640, 360))

    job = client.generate(image=picture, params={"num_frames": 6, "width": 256, "height": 144})
    assert job.kind == "image_to_video"
    assert job.status == "succeeded", job.error
    from_bytes = client.generate(image=png_bytes(320, 192), params=SMALL, wait=False)
    assert from_bytes.status == "queued" and from_bytes.kind == "image_to_video"

    assert client.get(job.id).status == "succeeded"
    page = client.list()
    assert [g.id for g in page] == [from_bytes.id, job.id]  # newest first
    assert page.count == 2

    # A handshake the server refuses (an Origin outside ALLOWED_HOSTS: HTTP 403) falls back to
    # polling the REST API.
    monkeypatch.setattr(live, "origin", lambda base: "http://elsewhere.example")
    events: list[Event] = []
    assert client.wait(from_bytes.id, on_progress=events.append).status == "succeeded"
    assert events[-1].type == "finished" and all("prompt" in e.data for e in events)


def test_cancel_a_queued_job_refunds_it(live_web, client, user):
    # No worker runs: the job stays queued until canceled.
    job = client.generate(prompt="a slow dawn", params=SMALL, wait=False)
    assert job.status == "queued" and job.queue_position == 1
    assert credits_balance(user=user) == settings.FREE_CREDITS - job.cost_credits

    canceled = client.cancel(job.id)

    assert canceled.status == "canceled"
    assert client.get(job.id).status == "canceled"
    assert credits_balance(user=user) == settings.FREE_CREDITS
    assert LedgerEntry.objects.filter(kind="refund", reference=f"generation:{job.id}").count() == 1


def test_the_same_idempotency_key_answers_the_same_job(live_web, client, user):
    key = str(uuid.uuid4())
    first = client.generate(prompt="once", params=SMALL, wait=False, idempotency_key=key)
    again = client.generate(prompt="once", params=SMALL, wait=False, idempotency_key=key)
    assert first.id == again.id
    assert credits_balance(user=user) == settings.FREE_CREDITS - first.cost_credits


def test_api_errors_raise_exceptions_with_the_api_code(live_web, client, user):
    credits_spend(user=user, amount=credits_balance(user=user), reference="test:drain")
    with pytest.raises(InsufficientCredits) as short:
        client.generate(prompt="too expensive now", params=SMALL, wait=False)
    assert short.value.status == 402 and short.value.code == "insufficient_credits"
    assert client.list().count == 0  # nothing written

    stranger = UserFactory()
    theirs = Client(live_web, Token.objects.create(user=stranger).key).generate(
        prompt="not yours", params=SMALL, wait=False
    )
    with pytest.raises(NotFound) as missing:
        client.get(theirs.id)
    assert missing.value.status == 404 and missing.value.code
    with pytest.raises(NotFound):
        client.cancel(theirs.id)
    with pytest.raises(NotFound):
        client.wait(theirs.id, timeout=30)

    with pytest.raises(ValidationError) as bad:
        client.generate(kind="text_to_video", prompt="x", params={"num_frames": -3}, wait=False)
    assert bad.value.status == 400 and bad.value.code and bad.value.detail


def test_storyboard_runs_its_scenes_and_assembles(live_web, worker, client, tmp_path):
    scenes = [
        {"prompt": "neon rain over a harbour", "duration": 1, "engine": "procedural"},
        {"image": png_bytes(320, 192), "duration": 1, "engine": "procedural"},
    ]
    quote = client.quote("storyboard", scenes=scenes)

    board = client.storyboard(scenes, transition="cut", quality="draft", timeout=240)

    assert board.status == "succeeded", board.error
    assert board.kind == "storyboard" and board.cost_credits == quote.credits
    assert [s["status"] for s in board.scenes] == ["succeeded", "succeeded"]
    path = client.download(board, tmp_path / "board.mp4")
    frames, _ = decoded_frames(path)
    assert frames > 0
