"""The re-enqueue of lost broker messages, on the real Redis broker (the test run's prefix):
what the broker is asked, what is sent again, when it gives up, and what it leaves alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.conf import settings
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.broker import broker_message_ids
from apps.generation.dispatch import GENERATION_RUN, task_send
from apps.generation.maintenance import generation_requeue_lost
from apps.generation.models import Generation
from apps.generation.services import generation_create

pytestmark = pytest.mark.django_db(transaction=True)

PARAMS = {"num_frames": 8, "width": 128, "height": 72, "fps": 8, "enhance_prompt": False}
LATER = timedelta(seconds=60)  # past the grace a message just sent gets


def create(user) -> Generation:
    return generation_create(
        user=user, kind="text_to_video", engine="procedural", prompt="x", params=PARAMS
    ).generation


def lose_queue(queue: str) -> None:
    """What a Redis restart without persistence does to one queue: its messages are gone."""
    with current_app.connection_for_write() as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as client:
            client.delete(queue)  # kombu's client adds the global key prefix to DEL


def test_the_broker_names_a_waiting_message_and_forgets_a_lost_one(user):
    generation = create(user)
    assert generation.task_id in broker_message_ids(["cpu"])
    lose_queue("cpu")
    assert generation.task_id not in broker_message_ids(["cpu"])


def test_a_message_reserved_by_a_worker_is_held_not_lost(user):
    generation = create(user)
    with current_app.connection_for_read() as connection:
        queue = connection.SimpleQueue("cpu", no_ack=False)
        message = queue.get(timeout=5)  # reserved, as a worker's prefetch or an acks_late run
        try:
            assert message.headers["id"] == generation.task_id
            assert generation.task_id in broker_message_ids(["cpu"])
            assert generation_requeue_lost(now=timezone.now() + LATER).jobs == 0
        finally:
            message.requeue()
            queue.close()
    assert generation.task_id in broker_message_ids(["cpu"])


def test_a_lost_job_is_sent_again_under_a_new_id_then_given_up_and_refunded(user, settings):
    settings.GENERATION_MAX_REQUEUES = 2
    generation = create(user)
    kept = create(user)  # its message stays: left alone
    first_id = generation.task_id
    for attempt in (1, 2):
        lose_queue("cpu")
        kept.refresh_from_db()
        task_send(GENERATION_RUN, str(kept.pk), queue="cpu", task_id=kept.task_id)  # still held
        done = generation_requeue_lost(now=timezone.now() + attempt * LATER)
        assert (done.jobs, done.failed) == (1, 0)
        generation.refresh_from_db()
        assert generation.status == "queued" and generation.requeues == attempt
        assert generation.task_id != first_id
        assert generation.task_id in broker_message_ids(["cpu"])
    kept.refresh_from_db()
    assert kept.requeues == 0

    lose_queue("cpu")
    done = generation_requeue_lost(now=timezone.now() + 3 * LATER)
    generation.refresh_from_db()
    assert done.failed == 1 and generation.status == "failed"
    assert "lost this job 3 times" in generation.error
    kinds = LedgerEntry.objects.filter(reference=generation.spend_reference).values_list(
        "kind", flat=True
    )
    assert sorted(kinds) == ["refund", "spend"]
    assert credits_balance(user=user) == settings.FREE_CREDITS - kept.cost_credits
    # A further look finds nothing more to do for it.
    assert generation_requeue_lost(now=timezone.now() + 4 * LATER).failed == 0


def test_a_message_just_sent_is_given_its_grace(user):
    generation = create(user)
    lose_queue("cpu")
    assert generation_requeue_lost(now=timezone.now()).jobs == 0
    generation.refresh_from_db()
    assert generation.requeues == 0


def test_a_lost_storyboard_scene_is_sent_again(user):
    from apps.generation.storyboards.services import storyboard_create

    board = storyboard_create(
        user=user, scenes=[{"prompt": "a", "duration": 1.0}, {"prompt": "b", "duration": 1.0}]
    ).generation
    scenes = list(board.scenes.order_by("index"))
    assert all(s.task_id for s in scenes)
    queue = {s.engine for s in scenes} == {"procedural"} and "cpu"
    assert {s.task_id for s in scenes} <= broker_message_ids([queue])
    lose_queue(queue)
    done = generation_requeue_lost(now=timezone.now() + LATER)
    assert done.scenes == 2
    again = list(board.scenes.order_by("index"))
    assert [s.requeues for s in again] == [1, 1]
    assert {s.task_id for s in again} <= broker_message_ids([queue])
    assert settings.GENERATION_MAX_REQUEUES >= 1
