"""A real Celery worker process over real Redis, driven through the real HTTP server."""

import os
import signal
import time
from pathlib import Path

import av
import pytest
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from apps.generation.services import generation_reap_lost
from tests import processes
from tests.factories import UserFactory
from tests.images import png_bytes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def poll(session: requests.Session, url: str, *, until, timeout: float = 120) -> dict:
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(url, timeout=10).json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if until(body):
            body["_statuses"] = seen
            return body
        time.sleep(0.1)
    raise AssertionError(f"timed out; statuses seen: {seen}")


@pytest.fixture
def session(user):
    token, _ = Token.objects.get_or_create(user=user)
    s = requests.Session()
    s.headers["Authorization"] = f"Token {token.key}"
    yield s
    s.close()


def test_text_to_video_through_http_and_worker_to_decoded_mp4(live_web, worker, session, user):
    response = session.post(
        f"{live_web}/api/v1/generations/",
        json={
            "kind": "text_to_video",
            "prompt": "neon rain over a quiet harbour",
            "params": {"num_frames": 16, "width": 320, "height": 192, "fps": 8},
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["status"] == "queued"

    done = poll(
        session,
        f"{live_web}/api/v1/generations/{created['id']}/",
        until=lambda b: b["status"] in ("succeeded", "failed", "canceled"),
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["_statuses"][-1] == "succeeded"
    assert done["engine"] == "procedural"
    assert done["progress"] == 1.0
    assert (done["width"], done["height"], done["num_frames"]) == (320, 192, 16)
    assert done["started_at"] and done["finished_at"]

    video = session.get(done["video_url"], timeout=10)
    assert video.status_code == 200
    assert video.headers["Content-Type"] == "video/mp4"
    path = Path(settings.MEDIA_ROOT) / "downloaded.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 192)
    assert frames == 16
    # +faststart: the index (moov) comes before the media data (mdat).
    head = video.content[:4096]
    assert head.find(b"moov") != -1 and (
        head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat")
    )

    thumb = session.get(done["thumbnail_url"], timeout=10)
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"

    ranged = session.get(done["video_url"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert ranged.status_code == 206 and len(ranged.content) == 100

    stranger = UserFactory()
    token, _ = Token.objects.get_or_create(user=stranger)
    other = requests.get(
        done["video_url"], headers={"Authorization": f"Token {token.key}"}, timeout=10
    )
    assert other.status_code == 404
    assert credits_balance(user=user) == settings.FREE_CREDITS - done["cost_credits"]


def test_image_to_video_through_http_and_worker(live_web, worker, session):
    response = session.post(
        f"{live_web}/api/v1/generations/",
        data={
            "kind": "image_to_video",
            "params": '{"num_frames": 12, "width": 256, "height": 144}',
        },
        files={"image": ("still.png", png_bytes(640, 360), "image/png")},
    )
    assert response.status_code == 201, response.text
    done = poll(
        session,
        f"{live_web}/api/v1/generations/{response.json()['id']}/",
        until=lambda b: b["status"] in ("succeeded", "failed"),
    )
    assert done["status"] == "succeeded", done["error"]
    assert (done["width"], done["height"], done["num_frames"]) == (256, 144, 12)


def test_worker_killed_mid_task_is_reaped_and_refunded(transactional_db, user):
    """SIGKILL the whole worker while it renders: the reaper fails the job and refunds once."""
    from apps.generation.services import generation_create

    with processes.celery_worker(GENERATION_HEARTBEAT_INTERVAL="0.5") as proc:
        generation = generation_create(
            user=user,
            kind="text_to_video",
            prompt="a long slow pan across the stars",
            params={
                "num_frames": 120,
                "width": 1024,
                "height": 576,
                "fps": 8,
                "guidance_scale": 9.0,
                "quality": "fast",
                "enhance_prompt": False,
            },
        ).generation
        deadline = time.monotonic() + 60
        while Generation.objects.get(pk=generation.pk).status != "running":
            assert time.monotonic() < deadline, "worker never started the job"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    generation.refresh_from_db()
    assert generation.status == "running"  # nobody is left to finish it
    settings.GENERATION_HEARTBEAT_TIMEOUT = 2
    time.sleep(2.5)
    assert generation_reap_lost() == 1
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert "stopped responding" in generation.error
    assert (
        LedgerEntry.objects.filter(kind="refund", reference=f"generation:{generation.pk}").count()
        == 1
    )
    assert credits_balance(user=user) == settings.FREE_CREDITS
    assert not (Path(settings.MEDIA_ROOT) / "generations" / str(generation.pk)).exists()

    # A redelivered message for the reaped job does nothing.
    from apps.generation.tasks import generation_run

    assert generation_run.apply(args=[str(generation.pk)]).get() == "skipped"
