"""The storyboard state machine, run in-process (the broker replaced by a list): scenes, then
the assembly; a failing scene retried once, then partial refunds exactly once; scene retry;
cancel; the reaper. The real worker runs the same tasks in test_worker.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.pricing import ASSEMBLY_PRICE
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_spend
from apps.generation.charges import storyboard_refund_unproduced
from apps.generation.models import Generation, StoryboardScene
from apps.generation.services import generation_mark_failed, generation_reap_lost
from tests.storyboard.conftest import (
    SMALL,
    multipart,
    png_upload,
    scenes_of,
    storyboard_body,
    text_scene,
)
from workers.media.probe import probe
from workers.storyboard.audio import tts_available

pytestmark = pytest.mark.django_db(transaction=True)


def create(api, body, **files) -> Generation:
    if files:
        response = api.post("/api/v1/generations/", multipart(body, **files), format="multipart")
    else:
        response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 201, response.json()
    return Generation.objects.get(pk=response.json()["id"])


def refunds(generation) -> list[tuple[int, str]]:
    return sorted(
        (e.amount, e.reference)
        for e in LedgerEntry.objects.filter(kind="refund", reference__contains=str(generation.pk))
    )


def break_image(scene: StoryboardScene) -> None:
    Path(scene.image.path).write_bytes(b"this is no longer an image")


def test_scenes_then_assembly_with_aggregated_progress(api, queue):
    generation = create(api, storyboard_body(transition="crossfade"))
    assert len(queue.scenes) == 2  # independent scenes go out together

    assert queue.drain(limit=1) == ["succeeded"]
    generation.refresh_from_db()
    assert generation.status == "running"
    assert generation.stage == "scene 1 of 2"
    assert generation.progress == pytest.approx(0.45)

    assert queue.drain() == ["succeeded", "succeeded"]  # scene 2, then the assembly
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error
    assert generation.progress == 1.0 and generation.stage == "done"
    assert (generation.width, generation.height, generation.fps) == (854, 480, 24)
    # 2 × 1 s scenes at 24 fps with a crossfade of 0.5 s, clamped below half a scene (11).
    assert generation.num_frames == 24 + 24 - 11
    info = probe(Path(settings.MEDIA_ROOT) / generation.video.name)
    assert info.num_frames == 37 and not info.has_audio
    assert Path(generation.thumbnail.path).is_file()
    assert all(
        s.status == "succeeded" and Path(s.video.path).is_file() for s in scenes_of(generation)
    )
    assert refunds(generation) == []


def test_failed_scene_is_retried_once_then_refunds_what_was_not_produced_once(api, user, queue):
    body = storyboard_body([text_scene(), text_scene(image=True), text_scene()])
    generation = create(api, body, scene_image_1=png_upload())
    break_image(scenes_of(generation)[1])
    assert generation.cost_credits == 3 + ASSEMBLY_PRICE

    results = queue.drain()
    # scene 1 ok; scene 2 fails and goes back to the queue; scene 3 ok; scene 2 fails again.
    assert results == ["succeeded", "retrying", "succeeded", "failed"]
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert generation.error.startswith("Scene 2 failed: The input image could not be read")
    first, second, third = scenes_of(generation)
    assert second.status == "failed" and second.attempts == 2
    assert first.status == third.status == "succeeded"
    assert Path(first.video.path).is_file() and Path(third.video.path).is_file()
    assert queue.assemblies == []

    expected = [
        (1, f"storyboard:{generation.pk}:assembly"),
        (1, f"storyboard:{generation.pk}:scene:1"),
    ]
    assert refunds(generation) == expected
    # Whoever else tries to fail or refund it again changes nothing.
    assert not generation_mark_failed(generation_id=generation.pk, error="again")
    assert storyboard_refund_unproduced(generation_id=generation.pk, note="again") == 0
    assert refunds(generation) == expected
    assert credits_balance(user=user) == settings.FREE_CREDITS - 4 + 2


def test_scene_retry_charges_only_that_scene_and_reassembles(api, user, queue):
    body = storyboard_body([text_scene(), text_scene(image=True)], transition="fade")
    generation = create(api, body, scene_image_1=png_upload())
    scene = scenes_of(generation)[1]
    good = Path(scene.image.path).read_bytes()
    break_image(scene)
    queue.drain()
    generation.refresh_from_db()
    assert generation.status == "failed"
    balance = credits_balance(user=user)
    assert balance == settings.FREE_CREDITS - 3 + 2  # scene 2 and the assembly came back

    Path(scene.image.path).write_bytes(good)
    response = api.post(f"/api/v1/generations/{generation.pk}/scenes/1/retry/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "queued"
    assert [s["status"] for s in response.json()["scenes"]] == ["succeeded", "queued"]
    assert credits_balance(user=user) == balance - 1
    spend = LedgerEntry.objects.get(kind="spend", reference__endswith=":retry:1")
    assert (spend.amount, spend.reference) == (-1, f"storyboard:{generation.pk}:scene:1:retry:1")
    assert len(queue.scenes) == 1  # only the failed scene runs again

    assert queue.drain() == ["succeeded", "succeeded"]
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error
    assert generation.cost_credits == 4
    assert Path(generation.video.path).is_file()
    assert credits_balance(user=user) == balance - 1
    # A storyboard that did not fail has nothing to retry.
    again = api.post(f"/api/v1/generations/{generation.pk}/scenes/1/retry/")
    assert again.status_code == 409


def test_scene_retry_is_402_when_credits_are_short(api, user, queue):
    body = storyboard_body([text_scene(image=True)])
    generation = create(api, body, scene_image_0=png_upload())
    break_image(scenes_of(generation)[0])
    queue.drain()
    balance = credits_balance(user=user)
    credits_spend(user=user, amount=balance, reference="test:drain")
    response = api.post(f"/api/v1/generations/{generation.pk}/scenes/0/retry/")
    assert response.status_code == 402
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert scenes_of(generation)[0].status == "failed"
    assert queue.scenes == []


def test_cancel_after_the_first_chained_scene_refunds_the_rest(api, user, queue):
    generation = create(api, storyboard_body([text_scene()] * 3, chain=True))
    assert len(queue.scenes) == 1  # chained: one at a time
    assert queue.drain(limit=1) == ["succeeded"]
    assert len(queue.scenes) == 1  # scene 2 was sent once scene 1 had its clip

    response = api.post(f"/api/v1/generations/{generation.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert [s["status"] for s in response.json()["scenes"]] == ["succeeded", "canceled", "canceled"]
    assert queue.drain() == ["skipped"]
    assert refunds(generation) == [
        (1, f"storyboard:{generation.pk}:assembly"),
        (1, f"storyboard:{generation.pk}:scene:1"),
        (1, f"storyboard:{generation.pk}:scene:2"),
    ]
    assert credits_balance(user=user) == settings.FREE_CREDITS - 1
    assert api.post(f"/api/v1/generations/{generation.pk}/cancel/").status_code == 409


def test_cancel_while_queued_refunds_everything(api, user, queue):
    generation = create(api, storyboard_body())
    response = api.post(f"/api/v1/generations/{generation.pk}/cancel/")
    assert response.json()["status"] == "canceled"
    assert queue.drain() == ["skipped", "skipped"]
    assert credits_balance(user=user) == settings.FREE_CREDITS
    assert len(refunds(generation)) == 3


def test_reaper_fails_a_lost_storyboard_and_refunds_unproduced_parts(api, user, queue):
    generation = create(api, storyboard_body([text_scene()] * 2, chain=True))
    queue.drain(limit=1)
    stale = timezone.now() - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT + 60)
    # Scene 2 waits in the broker: the storyboard is not lost, however old its heartbeat.
    Generation.objects.filter(pk=generation.pk).update(heartbeat_at=stale)
    assert generation_reap_lost() == 0
    # Its worker took it and died.
    StoryboardScene.objects.filter(generation=generation, index=1).update(status="running")
    assert generation_reap_lost() == 1
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert refunds(generation) == [
        (1, f"storyboard:{generation.pk}:assembly"),
        (1, f"storyboard:{generation.pk}:scene:1"),
    ]
    assert generation_reap_lost() == 0
    assert credits_balance(user=user) == settings.FREE_CREDITS - 1


def test_narration_upload_is_mixed_in(api, queue):
    from tests.storyboard.conftest import wav_upload

    generation = create(api, storyboard_body(transition="cut"), narration_audio=wav_upload(3.0))
    assert queue.drain()[-1] == "succeeded"
    generation.refresh_from_db()
    info = probe(Path(generation.video.path))
    assert info.has_audio
    # The narration (3 s) is longer than the scenes (2 s): the video holds its last frame.
    assert generation.duration_seconds == pytest.approx(3.0, abs=0.05)
    assert not generation.subtitles


@pytest.mark.skipif(not tts_available(), reason="espeak-ng is not installed")
def test_text_narration_is_spoken_and_subtitled(api, queue):
    text = "A fox wakes at dawn. It runs across the snow."
    generation = create(api, storyboard_body(transition="cut", narration_text=text))
    assert queue.drain()[-1] == "succeeded"
    generation.refresh_from_db()
    assert probe(Path(generation.video.path)).has_audio
    vtt = Path(generation.subtitles.path).read_text()
    assert vtt.startswith("WEBVTT") and "A fox wakes at dawn." in vtt
    assert "narration spoken by espeak-ng" in generation.notes


def test_progress_events_name_the_scene_then_the_assembly(api, queue, monkeypatch):
    from apps.generation import progress

    sent: list[dict] = []
    monkeypatch.setattr(progress, "send_event", lambda *, generation, event: sent.append(event))
    generation = create(api, storyboard_body())
    queue.drain()
    stages = [e["stage"] for e in sent]
    assert stages[0] == "scene 1 of 2" and stages[-1] == "assembling"
    assert "scene 2 of 2" in stages
    assert stages.index("scene 2 of 2") < stages.index("assembling")
    values = [e["progress"] for e in sent]
    assert values == sorted(values)  # one after another here, so never backwards
    assert values[stages.index("scene 2 of 2") - 1] == pytest.approx(0.45)
    assert values[-1] == 1.0
    assert {e["id"] for e in sent} == {str(generation.pk)}


def test_failed_assembly_is_retried_alone_and_free(api, user, queue):
    generation = create(api, storyboard_body(transition="wipe"))
    assert queue.drain(limit=2) == ["succeeded", "succeeded"]  # both scenes
    clip = Path(scenes_of(generation)[0].video.path)
    good = clip.read_bytes()
    clip.write_bytes(b"not a video any more")

    assert queue.drain() == ["failed"]  # the assembly
    generation.refresh_from_db()
    assert generation.status == "failed"
    assert generation.error.startswith("Assembly failed")
    assert refunds(generation) == [(ASSEMBLY_PRICE, f"storyboard:{generation.pk}:assembly")]
    balance = credits_balance(user=user)
    assert balance == settings.FREE_CREDITS - 2

    # Scenes all have their clips: a scene retry says so, the storyboard retry re-assembles.
    assert api.post(f"/api/v1/generations/{generation.pk}/scenes/0/retry/").status_code == 409
    clip.write_bytes(good)
    response = api.post(f"/api/v1/generations/{generation.pk}/retry/")
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["stage"]) == ("running", "assembly queued")
    assert queue.scenes == [] and len(queue.assemblies) == 1

    assert queue.drain() == ["succeeded"]
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error
    assert Path(generation.video.path).is_file()
    assert credits_balance(user=user) == balance  # the re-assembly was not charged
    assert refunds(generation) == [(ASSEMBLY_PRICE, f"storyboard:{generation.pk}:assembly")]
    # Nothing left to retry, and other kinds are never retried in place.
    assert api.post(f"/api/v1/generations/{generation.pk}/retry/").status_code == 409
    clip_job = api.post(
        "/api/v1/generations/",
        {"kind": "text_to_video", "prompt": "a fox", "engine": "procedural"},
        format="json",
    ).json()
    other = api.post(f"/api/v1/generations/{clip_job['id']}/retry/")
    assert other.status_code == 409 and "Only storyboards" in other.json()["detail"]
    assert other.json()["code"] == "not_retryable"


def test_a_scene_whose_model_cannot_load_falls_back_and_says_so(api, queue, settings, tmp_path):
    settings.ZEROSCOPE_MODEL = str(tmp_path / "no-such-model")
    params = {**SMALL, "width": 128, "height": 128, "num_inference_steps": 2}
    scene = {"prompt": "neon rain over a harbour", "duration": 1.0, "params": params}
    generation = create(api, storyboard_body([scene], engine="auto"))
    assert scenes_of(generation)[0].engine == "zeroscope"

    assert queue.drain() == ["succeeded", "succeeded"]
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error
    assert generation.notes == ["scene 1: zeroscope was unavailable; used procedural."]


def test_moderation_refund_of_a_retried_storyboard_gives_back_what_was_paid_once(
    api, user, staff_user, queue
):
    from rest_framework.test import APIClient

    from apps.content.models import ContentItem

    body = storyboard_body([text_scene(), text_scene(image=True)])
    generation = create(api, body, scene_image_1=png_upload())
    scene = scenes_of(generation)[1]
    good = Path(scene.image.path).read_bytes()
    break_image(scene)
    queue.drain()  # scene 2 fails twice: it and the assembly are refunded
    Path(scene.image.path).write_bytes(good)
    assert api.post(f"/api/v1/generations/{generation.pk}/retry/").status_code == 200
    assert queue.drain() == ["succeeded", "succeeded"]  # scene 2 (charged again), assembly (free)
    generation.refresh_from_db()
    assert generation.status == "succeeded", generation.error
    paid = settings.FREE_CREDITS - credits_balance(user=user)
    assert paid == 3 - 2 + 1  # 3 at create, 2 refunded, 1 for the retried scene

    staff = APIClient()
    staff.force_authenticate(staff_user)
    item = ContentItem.objects.get(generation=generation)
    url = f"/api/v1/content/{item.pk}/moderate/"
    response = staff.post(url, {"action": "refund", "reason": "bad"}, format="json")
    assert response.status_code == 200, response.json()
    assert credits_balance(user=user) == settings.FREE_CREDITS  # exactly what was paid
    again = staff.post(url, {"action": "refund", "reason": "bad"}, format="json")
    assert again.status_code == 409
    assert credits_balance(user=user) == settings.FREE_CREDITS
