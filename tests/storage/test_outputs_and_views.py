"""A job's stored outputs on both backends: discarded by the same rule (a storyboard keeps its
finished scenes' clips), and served by the media views only to those who may see them (the
owner's answer is a Range-aware stream, or a redirect to a signed URL; anyone else's a 404)."""

from __future__ import annotations

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.generation import services
from apps.generation.models import Generation, StoryboardScene
from apps.generation.outputs import generation_discard_outputs
from tests.storage.test_helpers import BYTES, stored_names
from tests.storyboard.conftest import storyboard_body

pytestmark = pytest.mark.django_db


def finished_job(user) -> Generation:
    generation = services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="a neon koi in the rain",
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8},
    ).generation
    services.generation_mark_running(generation_id=generation.pk, worker="test")
    prefix = f"generations/{generation.pk}"
    video = default_storage.save(f"{prefix}/video.mp4", ContentFile(BYTES))
    thumbnail = default_storage.save(f"{prefix}/thumbnail.jpg", ContentFile(b"jpeg"))
    assert services.generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=video,
        thumbnail_name=thumbnail,
        width=320,
        height=192,
        fps=8,
        num_frames=8,
        duration_seconds=1.0,
        engine="procedural",
        notes=[],
    )
    generation.refresh_from_db()
    return generation


def test_discarding_a_single_job_removes_all_its_files(media_backend, user):
    generation = finished_job(user)
    default_storage.save("generations/other/video.mp4", ContentFile(b"x"))

    generation_discard_outputs(generation_id=generation.pk)

    assert stored_names(media_backend) == ["generations/other/video.mp4"]


def test_discarding_a_storyboard_keeps_the_clips_of_finished_scenes(media_backend, api):
    response = api.post("/api/v1/generations/", storyboard_body(), format="json")
    assert response.status_code == 201, response.json()
    generation = Generation.objects.get(pk=response.json()["id"])
    StoryboardScene.objects.filter(generation=generation, index=0).update(status="succeeded")
    prefix = f"generations/{generation.pk}"
    for name in ("video.mp4", "thumbnail.jpg", "scenes/0/video.mp4", "scenes/1/video.mp4"):
        default_storage.save(f"{prefix}/{name}", ContentFile(b"x"))

    generation_discard_outputs(generation_id=generation.pk)

    assert [n for n in stored_names(media_backend) if n.startswith(prefix)] == [
        f"{prefix}/scenes/0/video.mp4"
    ]


def test_the_owner_gets_the_video_with_ranges_and_others_a_404(
    media_backend, user, other_user, api_for
):
    generation = finished_job(user)
    url = f"/media/generations/{generation.pk}/video"

    stranger = api_for(other_user).get(url, HTTP_RANGE="bytes=0-99")
    assert stranger.status_code == 404
    assert "Location" not in stranger

    response = api_for(user).get(url, HTTP_RANGE="bytes=0-99")
    if media_backend is None:
        assert response.status_code == 206
        assert response["Content-Range"] == f"bytes 0-99/{len(BYTES)}"
        assert b"".join(response.streaming_content) == BYTES[:100]
        return
    assert response.status_code == 302
    ranged = requests.get(response["Location"], headers={"Range": "bytes=0-99"}, timeout=10)
    assert (ranged.status_code, ranged.content) == (206, BYTES[:100])
    assert ranged.headers["Content-Type"] == "video/mp4"


def test_the_library_item_follows_its_visibility(media_backend, user, other_user, api_for):
    from apps.content.models import ContentItem

    generation = finished_job(user)
    item = ContentItem.objects.get(generation=generation)
    url = f"/media/content/{item.pk}/video"

    assert api_for(other_user).get(url).status_code == 404  # private by default
    owner = api_for(user).get(url)
    assert owner.status_code == (200 if media_backend is None else 302)


def test_a_stored_name_without_its_file_is_a_404(media_backend, user, api_for):
    generation = finished_job(user)
    default_storage.delete(generation.video.name)

    assert api_for(user).get(f"/media/generations/{generation.pk}/video").status_code == 404


def test_subtitles_are_streamed_by_the_web_from_either_backend(media_backend, user, api_for):
    """A <track> may not follow a redirect to another origin, so subtitles never redirect."""
    generation = finished_job(user)
    name = default_storage.save(
        f"generations/{generation.pk}/subtitles.vtt", ContentFile(b"WEBVTT\n")
    )
    Generation.objects.filter(pk=generation.pk).update(subtitles=name)

    response = api_for(user).get(f"/media/generations/{generation.pk}/subtitles")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/vtt"
    assert b"".join(response.streaming_content) == b"WEBVTT\n"
