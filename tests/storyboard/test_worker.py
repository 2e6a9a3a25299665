"""Storyboards through the API and a real Celery worker over real Redis, as a user runs them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.conf import settings

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation, StoryboardScene
from tests import processes
from tests.images import png_bytes, upload
from tests.storyboard.conftest import SMALL, multipart, storyboard_body, text_scene, wav_upload
from tests.workers.storyboard.media_files import audio_seconds, decode_video, distance
from workers.media.probe import probe
from workers.storyboard import plan_timeline
from workers.storyboard.frames import extract_first_frame, extract_last_frame

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FINISHED = ("succeeded", "failed", "canceled")


def poll(api, generation_id, *, until=lambda b: b["status"] in FINISHED, timeout=90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/generations/{generation_id}/").json()
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last seen: {body['status']} {body['stage']}")


def download(api, url: str, path: Path) -> Path:
    response = api.get(url)
    assert response.status_code == 200, url
    path.write_bytes(b"".join(response.streaming_content))
    return path


def test_storyboard_through_the_api_and_a_worker(api, api_for, user, other_user, worker, tmp_path):
    scenes = [
        text_scene("neon rain over a harbour", transition="wipe"),
        {**text_scene(""), "image": True, "duration": 1.5, "transition": "cut"},
        text_scene("the lighthouse at night", duration=1.0),
    ]
    body = storyboard_body(
        scenes, narration_text="The rain falls. The light turns. The night ends."
    )
    response = api.post(
        "/api/v1/generations/",
        multipart(
            body,
            scene_image_1=upload(png_bytes(320, 240), "still.png"),
            narration_audio=wav_upload(2.0),
        ),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    done = poll(api, created["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["progress"] == 1.0
    assert [s["status"] for s in done["scenes"]] == ["succeeded"] * 3

    video = probe(download(api, done["video_url"], tmp_path / "video.mp4"))
    assert (video.codec, video.pix_fmt, video.width, video.height) == ("h264", "yuv420p", 854, 480)
    assert video.fps == 24 and video.has_audio
    timeline = plan_timeline(
        durations=[1.0, 1.5, 1.0],
        transitions=["wipe", "cut"],
        transition_duration=0.5,
        fps=24,
    )
    assert video.num_frames == timeline.num_frames == done["num_frames"]
    # The narration (2 s) is shorter than the video: padded, both end together.
    assert audio_seconds(tmp_path / "video.mp4") == pytest.approx(video.duration, abs=0.05)

    for scene in done["scenes"]:
        clip = probe(download(api, scene["video_url"], tmp_path / f"s{scene['index']}.mp4"))
        assert (clip.width, clip.height, clip.num_frames) == (128, 96, 8)
    subtitles = api.get(done["subtitles_url"])
    assert subtitles.status_code == 200
    assert subtitles["Content-Type"].startswith("text/vtt")
    text = b"".join(subtitles.streaming_content).decode()
    assert text.startswith("WEBVTT") and "The light turns." in text
    assert api.get(done["thumbnail_url"]).status_code == 200
    stranger = api_for(other_user)
    for url in (done["video_url"], done["scenes"][0]["video_url"], done["subtitles_url"]):
        assert stranger.get(url).status_code == 404
    assert credits_balance(user=user) == settings.FREE_CREDITS - done["cost_credits"]
    assert not LedgerEntry.objects.filter(kind="refund").exists()


def test_chained_scenes_start_on_the_previous_last_frame(api, worker, tmp_path):
    scenes = [
        {**text_scene(""), "image": True, "params": {**SMALL, "motion_strength": 1.0}},
        text_scene("", params={**SMALL, "motion_strength": 1.0}),
        text_scene("", params={**SMALL, "motion_strength": 1.0}),
    ]
    response = api.post(
        "/api/v1/generations/",
        multipart(
            storyboard_body(scenes, chain=True, transition="cut"),
            scene_image_0=upload(png_bytes(256, 192, color=(200, 40, 160)), "start.png"),
        ),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    done = poll(api, response.json()["id"])
    assert done["status"] == "succeeded", done["error"]
    clips = [
        download(api, s["video_url"], tmp_path / f"scene{s['index']}.mp4") for s in done["scenes"]
    ]
    for before, after in zip(clips, clips[1:], strict=False):
        last = decode_video(extract_last_frame(before, tmp_path / "last.png"))
        first = decode_video(extract_first_frame(after, tmp_path / "first.png"))
        assert distance(last[0], first[0]) < 3.0
    # The clips do move (a chain of stills would pass the check above trivially).
    frames = decode_video(clips[1])
    assert distance(frames[0], frames[-1]) > 3.0


def test_failing_scene_refunds_once_and_its_retry_finishes_the_storyboard(api, user):
    """The worker starts after the scene's image was broken, so the failure is certain."""
    body = storyboard_body([text_scene(), {**text_scene(""), "image": True}])
    response = api.post(
        "/api/v1/generations/",
        multipart(body, scene_image_1=upload(png_bytes(), "still.png")),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    gid = response.json()["id"]
    scene = StoryboardScene.objects.get(generation_id=gid, index=1)
    image = Path(scene.image.path)
    good = image.read_bytes()
    image.write_bytes(b"broken")

    with processes.celery_worker():
        failed = poll(api, gid)
        assert failed["status"] == "failed"
        assert failed["scenes"][0]["status"] == "succeeded"
        assert failed["scenes"][0]["video_url"]
        assert failed["scenes"][1]["status"] == "failed"
        assert "could not be read" in failed["scenes"][1]["error"]
        assert StoryboardScene.objects.get(pk=scene.pk).attempts == 2  # retried once by itself
        refunds = sorted((e.amount, e.reference) for e in LedgerEntry.objects.filter(kind="refund"))
        assert refunds == [(1, f"storyboard:{gid}:assembly"), (1, f"storyboard:{gid}:scene:1")]
        balance = credits_balance(user=user)
        assert balance == settings.FREE_CREDITS - 3 + 2

        image.write_bytes(good)
        retry = api.post(f"/api/v1/generations/{gid}/scenes/1/retry/")
        assert retry.status_code == 200, retry.json()
        done = poll(api, gid)
        assert done["status"] == "succeeded", done["error"]
        assert credits_balance(user=user) == balance - 1
        assert LedgerEntry.objects.filter(kind="refund").count() == 2
        assert Generation.objects.get(pk=gid).video
