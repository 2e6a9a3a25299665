"""Deliveries to a real local receiver: signed, retried, never redirected, checked again."""

from __future__ import annotations

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from apps.generation.models import Generation
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import webhook_attempt, webhook_event_record
from tests import processes

FINISHED = ("succeeded", "failed", "canceled")


def poll(api, generation_id, *, until=lambda b: b["status"] in FINISHED, timeout=90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/generations/{generation_id}/").json()
        if until(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last seen: {body}")


def attempts(api, generation_id, *, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = api.get(f"/api/v1/generations/{generation_id}/webhooks/")
        assert response.status_code == 200
        rows = response.json()["results"]
        if len(rows) >= count and all(r["delivery_status"] != "pending" for r in rows):
            return rows
        time.sleep(0.2)
    raise AssertionError(f"attempts: {rows}")


def verify(secret: str, request) -> dict:
    return Webhook(secret).verify(request.body, request.headers)


def text_job(api, url: str, events=None, **params) -> dict:
    body = {
        "kind": "text_to_video",
        "engine": "procedural",
        "prompt": "neon rain over a quiet harbour",
        "params": {"num_frames": 24, "width": 160, "height": 96, "fps": 8, **params},
        "webhook": url,
    }
    if events is not None:
        body["webhook_events_filter"] = events
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- one attempt, in this process ---------------------------------------------------------------


@pytest.fixture
def job(user):
    return Generation.objects.create(
        user=user, kind="text_to_video", engine="procedural", prompt="x", status="succeeded"
    )


def _delivery(job, url):
    job.webhook, job.webhook_events_filter = url, ["completed"]
    job.save()
    return webhook_event_record(generation=job, event="completed")


@pytest.mark.django_db(transaction=True)
def test_rotating_the_secret_signs_the_next_attempt_with_the_new_one(api, job, receiver):
    old = api.get("/api/v1/webhooks/secret/").json()["key"]
    assert old.startswith("whsec_") and api.get("/api/v1/webhooks/secret/").json()["key"] == old
    receiver.script["/hook"] = [500]
    delivery = _delivery(job, receiver.url())
    assert webhook_attempt(delivery_id=delivery.pk) == "retry"
    new = api.post("/api/v1/webhooks/secret/").json()["key"]
    assert new != old and new.startswith("whsec_")
    assert webhook_attempt(delivery_id=delivery.pk) == "succeeded"
    first, second = receiver.on("/hook")
    assert verify(old, first)["id"] == str(job.pk)
    assert verify(new, second)["status"] == "succeeded"
    with pytest.raises(WebhookVerificationError):
        verify(old, second)
    # A retry is the same message: the same webhook-id, the same body.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.message_id
    assert first.body == second.body
    assert webhook_attempt(delivery_id=delivery.pk) == "skipped"  # done: a repeat sends nothing


@pytest.mark.django_db(transaction=True)
def test_a_redirect_is_not_followed(api, job, receiver):
    receiver.script["/hook"] = [302]
    delivery = _delivery(job, receiver.url())
    assert webhook_attempt(delivery_id=delivery.pk) == "failed"
    assert len(receiver.on("/hook")) == 1 and receiver.on("/elsewhere") == []
    (row,) = api.get(f"/api/v1/generations/{job.pk}/webhooks/").json()["results"]
    assert (row["status_code"], row["succeeded"], row["delivery_status"]) == (302, False, "failed")
    assert "Redirects are not followed" in row["error"]


@pytest.mark.django_db(transaction=True)
def test_out_of_retries_fails_the_delivery(job, receiver):
    receiver.script["/hook"] = [503]
    delivery = _delivery(job, receiver.url())
    assert webhook_attempt(delivery_id=delivery.pk, last=True) == "failed"
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "failed"


@pytest.mark.django_db
def test_the_settings_page_shows_the_secret_and_rotates_it(client, user, api):
    client.force_login(user)
    key = api.get("/api/v1/webhooks/secret/").json()["key"]
    page = client.get("/account/settings/").content.decode()
    assert key in page and "/account/settings/webhook-secret/" in page
    response = client.post("/account/settings/webhook-secret/")
    assert response.status_code == 302
    assert api.get("/api/v1/webhooks/secret/").json()["key"] != key
    assert client.get("/account/settings/webhook-secret/").status_code == 405


# --- a real worker process ----------------------------------------------------------------------

RETRY_FAST = {"WEBHOOK_RETRY_BACKOFF": "1", "WEBHOOK_RETRY_BACKOFF_MAX": "1"}


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_job_delivers_start_progress_and_completed_signed(api, receiver):
    secret = api.get("/api/v1/webhooks/secret/").json()["key"]
    with processes.celery_worker(**RETRY_FAST):
        created = text_job(api, receiver.url(), ["start", "progress", "completed"], num_frames=48)
        done = poll(api, created["id"])
        assert done["status"] == "succeeded", done["error"]
        deliveries = WebhookDelivery.objects.filter(generation_id=created["id"])
        total = deliveries.count()
        got = receiver.wait_for("/hook", count=total)
    bodies = [verify(secret, r) for r in got]
    events = {r.headers["webhook-id"]: b for r, b in zip(got, bodies, strict=True)}
    assert len(events) == total  # one webhook-id per delivery
    by_event = {e: list(deliveries.filter(event=e)) for e in ("start", "progress", "completed")}
    assert len(by_event["start"]) == 1 and len(by_event["completed"]) == 1
    assert by_event["progress"], "no progress delivery"
    starts = [d.created_at for d in by_event["progress"]]
    assert all((b - a).total_seconds() >= 0.9 for a, b in zip(starts, starts[1:], strict=False))
    assert events[by_event["start"][0].message_id]["status"] == "running"
    assert all(events[d.message_id]["status"] == "running" for d in by_event["progress"])
    final = events[by_event["completed"][0].message_id]
    assert final["status"] == "succeeded" and final["video_url"]
    assert final["id"] == created["id"] and final["webhook"] == receiver.url()
    assert "secret" not in json.dumps(final)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_an_error_answer_is_retried_and_the_owner_sees_the_attempts(
    api, api_for, other_user, receiver
):
    receiver.script["/hook"] = [500]
    with processes.celery_worker(**RETRY_FAST):
        created = text_job(api, receiver.url())
        rows = attempts(api, created["id"], count=2)
    assert [(r["event"], r["attempt"], r["status_code"]) for r in rows] == [
        ("completed", 1, 500),
        ("completed", 2, 200),
    ]
    assert rows[-1]["succeeded"] and rows[0]["webhook_id"] == rows[1]["webhook_id"]
    assert rows[0]["created_at"] <= rows[1]["created_at"]
    first, second = receiver.on("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    stranger = api_for(other_user).get(f"/api/v1/generations/{created['id']}/webhooks/")
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_storyboard_delivers_for_the_whole_job(api, receiver):
    secret = api.get("/api/v1/webhooks/secret/").json()["key"]
    small = {"width": 128, "height": 96, "fps": 8, "num_frames": 8}
    with processes.celery_worker(**RETRY_FAST):
        response = api.post(
            "/api/v1/generations/",
            {
                "kind": "storyboard",
                "engine": "procedural",
                "quality": "draft",
                "scenes": [
                    {"prompt": "neon rain", "duration": 1, "engine": "procedural", "params": small},
                    {"prompt": "a fox", "duration": 1, "engine": "procedural", "params": small},
                ],
                "webhook": receiver.url(),
                "webhook_events_filter": ["start", "completed"],
            },
            format="json",
        )
        assert response.status_code == 201, response.json()
        done = poll(api, response.json()["id"])
        assert done["status"] == "succeeded", done["error"]
        got = receiver.wait_for("/hook", count=2)
        time.sleep(1)  # (nothing more may come)
    got = receiver.on("/hook")
    bodies = [verify(secret, r) for r in got]
    assert sorted(b["status"] for b in bodies) == ["running", "succeeded"]
    assert {b["id"] for b in bodies} == {done["id"]} and all(
        b["kind"] == "storyboard" for b in bodies
    )
    final = next(b for b in bodies if b["status"] == "succeeded")
    assert [s["status"] for s in final["scenes"]] == ["succeeded", "succeeded"]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_worker_checks_the_address_again_before_it_delivers(api, receiver):
    # Allowed at create (this process allows private addresses); the worker does not.
    with processes.celery_worker(WEBHOOK_ALLOW_PRIVATE="false", **RETRY_FAST):
        created = text_job(api, receiver.url())
        done = poll(api, created["id"])
        assert done["status"] == "succeeded"
        (row,) = attempts(api, created["id"], count=1)
    assert row["status_code"] is None and row["delivery_status"] == "failed"
    assert "Refused" in row["error"] and "127.0.0.1" in row["error"]
    assert receiver.on("/hook") == []
