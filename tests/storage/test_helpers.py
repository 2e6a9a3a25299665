"""apps.core.storage on both backends: local files under MEDIA_ROOT, and a bucket on a real S3
API server (moto). The same calls, the same answers."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import RequestFactory

from apps.core.storage import (
    media_delete_prefix,
    media_exists,
    media_fetch,
    media_listdir,
    media_response,
    media_upload,
    scratch_dir,
    scratch_remove,
)
from apps.web.tasks import extend_frames_cleanup
from tests.storage.conftest import bucket_keys

BYTES = bytes(range(256)) * 40  # 10 240 bytes, each offset distinguishable


def stored_names(env) -> list[str]:
    """Every stored name, read from the backend itself (the bucket, or the folder on disk)."""
    if env is not None:
        return bucket_keys(env)
    root = Path(settings.MEDIA_ROOT)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_upload_then_fetch_round_trips_and_an_upload_replaces_the_name(media_backend, tmp_path):
    source = tmp_path / "made.mp4"
    source.write_bytes(BYTES)

    name = media_upload(source, name="generations/abc/video.mp4")
    assert name == "generations/abc/video.mp4"
    assert media_exists(name)
    assert stored_names(media_backend) == ["generations/abc/video.mp4"]

    source.write_bytes(b"second take")
    assert media_upload(source, name="generations/abc/video.mp4") == name  # not video_x1y2.mp4
    fetched = media_fetch(name, tmp_path / "elsewhere" / "got.mp4")
    assert fetched.read_bytes() == b"second take"
    assert stored_names(media_backend) == ["generations/abc/video.mp4"]


def test_delete_prefix_removes_everything_below_and_nothing_beside(media_backend):
    for name in (
        "generations/1/video.mp4",
        "generations/1/scenes/0/video.mp4",
        "generations/1/scenes/1/video.mp4",
        "generations/10/video.mp4",
        "uploads/7/a.png",
    ):
        default_storage.save(name, ContentFile(b"x"))

    assert media_delete_prefix("generations/1") == 3

    assert stored_names(media_backend) == ["generations/10/video.mp4", "uploads/7/a.png"]
    assert media_listdir("generations") == (["10"], [])  # no empty folder left behind
    assert media_delete_prefix("generations/404") == 0


def test_media_response_answers_a_range(media_backend, tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(BYTES)
    name = media_upload(source, name="generations/r/video.mp4")
    request = RequestFactory().get("/media/x", HTTP_RANGE="bytes=100-199")

    response = media_response(request, name, content_type="video/mp4")

    if media_backend is None:  # local: streamed by the web process itself
        assert response.status_code == 206
        assert response["Content-Range"] == f"bytes 100-199/{len(BYTES)}"
        assert response["Content-Type"] == "video/mp4"
        assert b"".join(response.streaming_content) == BYTES[100:200]
        return
    # s3: a redirect to a URL the object store signed, which then answers the range itself.
    assert response.status_code == 302
    url = response["Location"]
    assert url.startswith(f"{media_backend['AWS_S3_ENDPOINT_URL']}/")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    assert response["Cache-Control"] == "private, no-store"
    ranged = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == BYTES[100:200]
    assert ranged.headers["Content-Type"] == "video/mp4"
    assert requests.get(url.split("?")[0], timeout=10).status_code == 403  # private unsigned


def test_scratch_folders_are_per_job_and_removed(media_backend):
    one, two = scratch_dir(prefix="generation-1"), scratch_dir(prefix="generation-1")
    assert one != two and one.is_dir() and two.is_dir()
    (one / "video.mp4").write_bytes(b"x")
    scratch_remove(one)
    assert not one.exists() and two.is_dir()
    scratch_remove(two)
    assert stored_names(media_backend) == []


def test_extend_cleanup_works_through_storage(media_backend):
    for name in ("extend/1/a.png", "extend/2/b.png", "extend/2/notes.txt"):
        default_storage.save(name, ContentFile(b"png"))

    assert extend_frames_cleanup(max_age_seconds=3600) == 0  # all fresh
    # A cutoff in the future makes every picture old.
    assert extend_frames_cleanup(max_age_seconds=-60) == 2

    assert stored_names(media_backend) == ["extend/2/notes.txt"]
    assert media_listdir("extend")[0] == ["2"]  # the emptied folder is gone


@pytest.mark.parametrize("missing", ["generations/nope/video.mp4", ""])
def test_missing_names_do_not_exist(media_backend, missing):
    assert not media_exists(missing)
