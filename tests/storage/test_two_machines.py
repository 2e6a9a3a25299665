"""Web and worker as two machines would run them: real daphne and a real Celery worker, both on
MEDIA_STORAGE=s3 (a real S3 API server, moto) with DIFFERENT MEDIA_ROOT folders, so the only
media they share is the bucket. An image-to-video job and a chained storyboard (scene 2 starts
from the last frame of scene 1, read back from the bucket) go through the API to the end."""

from __future__ import annotations

import json
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from tests import processes
from tests.factories import UserFactory
from tests.images import png_bytes
from tests.storage.conftest import bucket_keys, s3_client
from tests.storyboard.conftest import SMALL, storyboard_body, text_scene

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def session_for(user) -> requests.Session:
    token, _ = Token.objects.get_or_create(user=user)
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token.key}"
    return session


def wait_done(session: requests.Session, url: str, *, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = session.get(url, timeout=10).json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"not finished in {timeout}s: {body}")


def files_under(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_web_and_worker_share_media_only_through_the_bucket(s3_env, tmp_path, user):
    web_root, worker_root = tmp_path / "web-media", tmp_path / "worker-media"
    owner, stranger = session_for(user), session_for(UserFactory())
    with (
        processes.web_server(MEDIA_ROOT=str(web_root), **s3_env) as base,
        processes.celery_worker(MEDIA_ROOT=str(worker_root), **s3_env),
    ):
        created = owner.post(
            f"{base}/api/v1/generations/",
            data={"kind": "image_to_video", "engine": "procedural", "params": json.dumps(SMALL)},
            files={"image": ("photo.png", png_bytes(160, 96), "image/png")},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        board = owner.post(
            f"{base}/api/v1/generations/",
            json=storyboard_body([text_scene(), text_scene("a fox at dawn")], chain=True),
            timeout=30,
        )
        assert board.status_code == 201, board.text

        job = wait_done(owner, f"{base}/api/v1/generations/{created.json()['id']}/")
        story = wait_done(owner, f"{base}/api/v1/generations/{board.json()['id']}/")
        assert job["status"] == "succeeded", job["error"]
        assert story["status"] == "succeeded", story["error"]

        keys = bucket_keys(s3_env)
        for name in ("video.mp4", "thumbnail.jpg"):
            assert f"generations/{job['id']}/{name}" in keys
            assert f"generations/{story['id']}/{name}" in keys
        for index in (0, 1):
            assert f"generations/{story['id']}/scenes/{index}/video.mp4" in keys
        assert any(k.startswith(f"uploads/{user.pk}/") for k in keys)  # the input picture
        # Neither machine kept the media on its own disk (the worker's scratch folders went).
        assert files_under(web_root) == []
        assert files_under(worker_root) == []

        # The owner is sent to a short-lived signed URL, which answers a Range request.
        stored = (
            s3_client(s3_env["AWS_S3_ENDPOINT_URL"])
            .get_object(
                Bucket=s3_env["AWS_STORAGE_BUCKET_NAME"], Key=f"generations/{job['id']}/video.mp4"
            )["Body"]
            .read()
        )
        answer = owner.get(job["video_url"], allow_redirects=False, timeout=10)
        assert answer.status_code == 302
        signed = answer.headers["Location"]
        assert signed.startswith(s3_env["AWS_S3_ENDPOINT_URL"]) and "X-Amz-Signature=" in signed
        ranged = requests.get(signed, headers={"Range": "bytes=0-99"}, timeout=10)
        assert ranged.status_code == 206
        assert ranged.content == stored[:100]
        assert ranged.headers["Content-Type"] == "video/mp4"
        assert ranged.headers["Content-Range"] == f"bytes 0-99/{len(stored)}"
        # Followed like a browser would, the player's request ends at the bytes too.
        followed = owner.get(job["video_url"], headers={"Range": "bytes=0-99"}, timeout=10)
        assert (followed.status_code, followed.content) == (206, stored[:100])
        scene_clip = owner.get(story["scenes"][1]["video_url"], allow_redirects=False, timeout=10)
        assert scene_clip.status_code == 302

        # Anyone else: a 404, and no URL to the object.
        for url in (job["video_url"], job["thumbnail_url"], story["scenes"][1]["video_url"]):
            other = stranger.get(url, allow_redirects=False, timeout=10)
            assert other.status_code == 404
            assert "Location" not in other.headers
