"""The worker registry over the real stack: two Celery worker processes on one queue, real Redis.

The queued jobs here are rows only (never sent to Celery), so the idle workers leave them
waiting and the schedule can be read while both workers stand by.
"""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.generation import eta, fleet
from apps.generation.models import Generation
from tests import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PARAMS = {"num_frames": 10, "fps": 8, "width": 128, "height": 72, "enhance_prompt": False}
TOTAL = 10 * 1.0 + 0.5  # the measured job: 10 steps of 1 s, then 0.5 s


@pytest.fixture
def clean_registry():
    def wipe():
        client = fleet._redis()
        for pattern in (f"{fleet.key_prefix()}*", f"{eta.key_prefix()}*"):
            for key in client.scan_iter(pattern):
                client.delete(key)

    wipe()
    yield
    wipe()


def job(user, **fields) -> Generation:
    return Generation.objects.create(
        user=user, kind="text_to_video", engine="procedural", queue="cpu", params=PARAMS, **fields
    )


def test_two_workers_on_a_queue_are_two_slots_and_leave_the_registry_when_they_stop(
    user, api, clean_registry
):
    shape = eta.job_shape(job(user, status="succeeded"))
    eta.sample_record(shape=shape, pre=0.0, step=1.0, post=0.5)
    job(
        user,
        status="running",
        stage="generating",
        step=4,
        total_steps=10,
        started_at=timezone.now(),
    )  # 6 steps left: 6.5 s
    first, second = job(user), job(user)

    with processes.celery_worker(queues="cpu"), processes.celery_worker(queues="cpu"):
        workers = fleet.queue_workers("cpu")
        assert len(workers) == 2, workers
        assert set(workers.values()) == {1}
        assert fleet.queue_workers("gpu") == {}

        body = api.get(f"/api/v1/generations/{second.pk}/").json()
        assert body["queue_position"] == 2
        # Two slots: the first job takes the idle worker now, the second the busy one's slot.
        assert body["eta_seconds"] == pytest.approx(6.5 + TOTAL, abs=0.5)
        page = {g["id"]: g for g in api.get("/api/v1/generations/").json()["results"]}
        assert page[str(first.pk)]["eta_seconds"] == pytest.approx(TOTAL, abs=0.5)
        assert page[str(second.pk)]["eta_seconds"] == pytest.approx(6.5 + TOTAL, abs=0.5)

    assert fleet.queue_workers("cpu") == {}
    # With nobody registered, one slot (the running job's): the second waits for both ahead.
    body = api.get(f"/api/v1/generations/{second.pk}/").json()
    assert body["eta_seconds"] == pytest.approx(6.5 + 2 * TOTAL, abs=0.5)
