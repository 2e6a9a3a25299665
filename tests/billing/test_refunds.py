"""Generation refunds are exactly once, and a refused charge (402) leaves nothing behind."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_refund_spend
from apps.generation import services as generation_services
from apps.generation.models import Generation
from tests.billing.conftest import set_balance
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db

T2V = {"kind": "text_to_video", "prompt": "rain on neon streets", "params": {"num_frames": 8}}


def create(user) -> Generation:
    return generation_services.generation_create(
        user=user, kind="text_to_video", prompt="rain", params={"num_frames": 8}
    ).generation


def refunds_of(generation):
    return LedgerEntry.objects.filter(kind="refund", reference=generation.spend_reference)


def test_a_failed_generation_refunds_once_even_if_the_failure_handler_runs_twice(user, no_enqueue):
    before = credits_balance(user=user)
    generation = create(user)
    assert credits_balance(user=user) == before - generation.cost_credits
    generation_services.generation_mark_running(generation_id=generation.pk, worker="w1")

    first = generation_services.generation_mark_failed(
        generation_id=generation.pk, error="CUDA out of memory"
    )
    second = generation_services.generation_mark_failed(
        generation_id=generation.pk, error="CUDA out of memory (redelivered task)"
    )
    again = credits_refund_spend(spend_reference=generation.spend_reference, note="once more")

    assert (first, second, again) == (True, False, None)
    refund = refunds_of(generation).get()
    assert refund.amount == generation.cost_credits
    assert "CUDA out of memory" in refund.note
    assert credits_balance(user=user) == before


def test_a_reaped_job_that_also_fails_in_its_worker_refunds_once(user, no_enqueue, settings):
    settings.GENERATION_HEARTBEAT_TIMEOUT = 60
    before = credits_balance(user=user)
    generation = create(user)
    generation_services.generation_mark_running(generation_id=generation.pk, worker="w1")
    Generation.objects.filter(pk=generation.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=5)
    )

    assert generation_services.generation_reap_lost() == 1
    assert not generation_services.generation_mark_failed(
        generation_id=generation.pk, error="late failure from the lost worker"
    )
    assert refunds_of(generation).count() == 1
    assert "worker lost" in refunds_of(generation).get().note
    assert credits_balance(user=user) == before


def test_cancel_and_failure_racing_refund_once(user, no_enqueue):
    before = credits_balance(user=user)
    generation = create(user)
    assert generation_services.generation_mark_canceled(
        generation_id=generation.pk, from_statuses=[Generation.Status.QUEUED]
    )
    assert not generation_services.generation_mark_failed(generation_id=generation.pk, error="x")
    assert refunds_of(generation).count() == 1
    assert credits_balance(user=user) == before


def uploads() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("kind", ["text_to_video", "image_to_video"])
def test_402_on_create_leaves_nothing_written(api, user, no_enqueue, kind):
    set_balance(user, 0)
    entries_before = LedgerEntry.objects.count()
    files_before = uploads()
    if kind == "image_to_video":
        response = api.post(
            "/api/v1/generations/",
            {"kind": kind, "image": upload(png_bytes(), "still.png")},
            format="multipart",
        )
    else:
        response = api.post("/api/v1/generations/", T2V, format="json")

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "insufficient_credits"
    assert body["balance"] == 0 and body["required"] >= 1
    assert body["detail"]
    assert not Generation.objects.exists()
    assert LedgerEntry.objects.count() == entries_before
    assert uploads() == files_before
    assert no_enqueue == []
    assert credits_balance(user=user) == 0
