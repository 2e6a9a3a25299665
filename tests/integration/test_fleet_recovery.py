"""Nothing accepted is lost, with real processes: a worker child SIGKILLed mid-job runs the job
again (one spend, no refund); queued jobs survive a Redis restart without persistence (beat and
the maintenance worker send them again); a create during a broker outage answers 503 and leaves
its Idempotency-Key free for the retry."""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from apps.generation.services import generation_create
from tests import processes

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

LONG = {
    "num_frames": 120,
    "width": 1024,
    "height": 576,
    "fps": 8,
    "quality": "fast",
    "enhance_prompt": False,
}
SHORT = {"num_frames": 8, "width": 128, "height": 72, "fps": 8, "enhance_prompt": False}


def wait_for(check, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def ledger(generation: Generation) -> list[str]:
    return sorted(
        LedgerEntry.objects.filter(reference=generation.spend_reference).values_list(
            "kind", flat=True
        )
    )


def kill_runner(generation: Generation) -> int:
    """SIGKILL the pool child running the job (its pid is the end of the row's `worker`)."""
    running = wait_for(
        lambda: Generation.objects.filter(
            pk=generation.pk, status="running", progress__gt=0.05
        ).first(),
        timeout=60,
        what="the job to be running",
    )
    pid = int(running.worker.rpartition(":")[2])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_worker_child_killed_mid_job_runs_it_again_with_one_charge(user):
    with processes.celery_worker(GENERATION_HEARTBEAT_INTERVAL="0.5"):
        generation = generation_create(
            user=user, kind="text_to_video", prompt="a slow pan", params=LONG
        ).generation
        killed = kill_runner(generation)
        done = wait_for(
            lambda: (
                Generation.objects.filter(pk=generation.pk, status__in=["succeeded", "failed"])
                .exclude(stage="")
                .first()
            ),
            timeout=180,
            what="the job to end",
        )
    assert done.status == "succeeded", done.error
    assert done.attempts == 2
    assert not done.worker.endswith(f":{killed}")  # a new child ran it
    assert done.progress == 1.0 and done.video
    assert ledger(done) == ["spend"]
    assert credits_balance(user=user) == settings.FREE_CREDITS - done.cost_credits


def test_a_job_whose_runs_all_died_fails_and_is_refunded_once(user):
    with processes.celery_worker(GENERATION_HEARTBEAT_INTERVAL="0.5", GENERATION_MAX_ATTEMPTS="1"):
        generation = generation_create(
            user=user, kind="text_to_video", prompt="a slow pan", params=LONG
        ).generation
        kill_runner(generation)
        done = wait_for(
            lambda: Generation.objects.filter(pk=generation.pk, status="failed").first(),
            timeout=60,
            what="the job to fail",
        )
    assert done.error == (
        "The worker running this job stopped 1 time before it finished; your credits were refunded."
    )
    assert ledger(done) == ["refund", "spend"]
    assert credits_balance(user=user) == settings.FREE_CREDITS


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


def create(base: str, token: str, *, key: str = "", params=SHORT) -> requests.Response:
    headers = {"Authorization": f"Token {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(
        f"{base}/api/v1/generations/",
        json={"kind": "text_to_video", "engine": "procedural", "prompt": "dawn", "params": params},
        headers=headers,
        timeout=30,
    )


def test_queued_jobs_survive_a_redis_restart_without_persistence(user, token):
    port = processes.free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "GENERATION_REQUEUE_AFTER": "4"}
    queue_key = f"test-{settings.TEST_RUN_ID}:cpu"  # the broker's global_keyprefix + queue
    with (
        processes.restartable_redis(port) as broker,
        processes.web_server(**env) as base,
        processes.celery_beat(**env),
        processes.celery_worker(queues="maintenance", **env),
    ):
        ids = []
        for _ in range(3):
            response = create(base, token)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        client = redis.Redis.from_url(broker.url)
        assert client.llen(queue_key) == 3  # the messages wait for a worker
        client.close()

        broker.stop()  # no persistence: every queue is gone with it
        broker.start()
        client = redis.Redis.from_url(broker.url)
        assert client.llen(queue_key) == 0
        client.close()

        with processes.celery_worker(queues="default,cpu,gpu", **env):
            wait_for(
                lambda: Generation.objects.filter(pk__in=ids, status="succeeded").count() == 3,
                timeout=120,
                what="the three jobs to succeed",
            )
    jobs = list(Generation.objects.filter(pk__in=ids))
    assert [j.requeues for j in jobs] == [1, 1, 1]
    assert all(ledger(j) == ["spend"] for j in jobs)
    assert credits_balance(user=user) == settings.FREE_CREDITS - sum(j.cost_credits for j in jobs)


def test_a_create_during_a_broker_outage_answers_503_and_the_retry_creates_it(user, token):
    port = processes.free_port()
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0"}
    with processes.restartable_redis(port) as broker, processes.web_server(**env) as base:
        broker.stop()
        refused = create(base, token, key="retry-me")
        assert refused.status_code == 503, refused.text
        assert refused.json()["code"] == "queue_unavailable"
        assert "nothing was charged" in refused.json()["detail"]
        assert credits_balance(user=user) == settings.FREE_CREDITS

        storyboard = requests.post(
            f"{base}/api/v1/generations/",
            json={"kind": "storyboard", "scenes": [{"prompt": "a", "duration": 1}]},
            headers={"Authorization": f"Token {token}", "Idempotency-Key": "board"},
            timeout=30,
        )
        assert storyboard.status_code == 503, storyboard.text
        assert storyboard.json()["code"] == "queue_unavailable"
        assert credits_balance(user=user) == settings.FREE_CREDITS

        broker.start()
        again = create(base, token, key="retry-me")
        assert again.status_code == 201, again.text
        assert again.json()["status"] == "queued"
    failed = Generation.objects.get(user=user, status="failed", kind="text_to_video")
    assert failed.idempotency_key == ""  # released: the retry made a new job
    assert str(failed.pk) != again.json()["id"]
    assert ledger(failed) == ["refund", "spend"]
    assert credits_balance(user=user) == settings.FREE_CREDITS - again.json()["cost_credits"]


def test_a_storyboard_scene_whose_worker_child_died_runs_again(user):
    from apps.generation.models import StoryboardScene
    from apps.generation.storyboards.services import storyboard_create

    with processes.celery_worker(GENERATION_HEARTBEAT_INTERVAL="0.5"):
        board = storyboard_create(
            user=user,
            scenes=[{"prompt": "a slow pan", "duration": 4.0, "params": LONG}],
            quality="draft",
        ).generation
        scene = wait_for(
            lambda: StoryboardScene.objects.filter(
                generation=board, status="running", progress__gt=0.05
            ).first(),
            timeout=60,
            what="the scene to be running",
        )
        os.kill(int(scene.worker.rpartition(":")[2]), signal.SIGKILL)
        done = wait_for(
            lambda: Generation.objects.filter(
                pk=board.pk, status__in=["succeeded", "failed"]
            ).first(),
            timeout=180,
            what="the storyboard to end",
        )
    assert done.status == "succeeded", done.error
    assert StoryboardScene.objects.get(generation=board).attempts == 2
    refunds = LedgerEntry.objects.filter(account__user=user, kind="refund").count()
    assert refunds == 0
    assert credits_balance(user=user) == settings.FREE_CREDITS - done.cost_credits
