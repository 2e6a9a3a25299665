"""The worker registry in Redis (apps.generation.fleet) and the queue schedule that counts it."""

from __future__ import annotations

import time
from contextlib import contextmanager

import pytest
from django.test import override_settings

from apps.generation import fleet, services
from apps.generation.models import Generation
from apps.generation.progress import ProgressReporter
from apps.generation.selectors import generation_eta_seconds, generation_queue_standings

PARAMS = {"num_frames": 10, "fps": 8, "width": 128, "height": 72, "enhance_prompt": False}


@pytest.fixture(autouse=True)
def clean_fleet():
    def wipe():
        client = fleet._redis()
        for key in client.scan_iter(f"{fleet.key_prefix()}*"):
            client.delete(key)

    wipe()
    yield
    wipe()


# --- the registry ---------------------------------------------------------------------------


def test_registered_workers_are_counted_per_queue_with_their_concurrency():
    fleet.worker_register(hostname="gpu-a@h1", queues=["gpu"], concurrency=1)
    fleet.worker_register(hostname="cpu-a@h1", queues=["default", "cpu"], concurrency=4)
    fleet.worker_register(hostname="cpu-b@h2", queues=["cpu"], concurrency=2)

    assert fleet.queue_workers("cpu") == {"cpu-a@h1": 4, "cpu-b@h2": 2}
    assert fleet.queue_slots("cpu") == 6
    assert fleet.queue_slots("gpu") == 1
    assert fleet.queue_slots("default") == 4
    assert fleet.queue_slots("maintenance") == 0


def test_a_refresh_replaces_the_concurrency_and_unregistering_removes_the_worker():
    fleet.worker_register(hostname="w@h", queues=["cpu", "gpu"], concurrency=2)
    fleet.worker_register(hostname="w@h", queues=["cpu", "gpu"], concurrency=3)
    assert fleet.queue_workers("cpu") == {"w@h": 3}

    fleet.worker_unregister(hostname="w@h", queues=["cpu", "gpu"])
    assert fleet.queue_workers("cpu") == {}
    assert fleet.queue_slots("gpu") == 0


def test_a_worker_not_seen_for_stale_seconds_is_ignored_and_pruned():
    now = time.time()
    fleet.worker_register(hostname="gone@h", queues=["cpu"], concurrency=8, now=now - 60)
    fleet.worker_register(hostname="alive@h", queues=["cpu"], concurrency=1, now=now)

    assert fleet.queue_workers("cpu") == {"alive@h": 1}
    client = fleet._redis()
    assert client.zrange(fleet._queue_key("cpu"), 0, -1) == [b"alive@h"]
    assert client.hkeys(fleet._slots_key("cpu")) == [b"alive@h"]


def test_each_install_has_its_own_registry():
    fleet.worker_register(hostname="w@h", queues=["cpu"], concurrency=2)
    other = {"default": {"BACKEND": "x", "CONFIG": {"prefix": "another-install:"}}}
    with override_settings(CHANNEL_LAYERS=other):
        assert fleet.queue_slots("cpu") == 0
    assert fleet.queue_slots("cpu") == 2


@contextmanager
def _redis_down():
    """The registry's client points at a port nobody listens on (the ETA samples stay)."""
    import redis

    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fleet, "_redis", lambda: down)
        yield


def test_without_redis_the_slots_are_unknown():
    fleet.worker_register(hostname="w@h", queues=["cpu"], concurrency=2)
    with _redis_down():
        assert fleet.queue_slots("cpu") is None


# --- the schedule ---------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def create(user) -> Generation:
    return services.generation_create(
        user=user, kind="text_to_video", prompt="stars", params=PARAMS
    ).generation


def start(user) -> Generation:
    return services.generation_mark_running(generation_id=create(user).pk, worker="w")


@pytest.fixture
def one_running_two_queued(db, user, clean_eta):
    """One measured job (10 steps of 1 s, 0.5 s after), one running with 6 steps (6.5 s) left,
    then two queued jobs of the same shape on the `cpu` queue. (Nothing is enqueued: the test's
    transaction never commits.)"""
    clock = Clock()
    measured = ProgressReporter(start(user), clock=clock)
    for i in range(1, 11):
        clock.tick(1.0)
        measured("generating", i, 10)
    clock.tick(0.5)
    measured("encoding", 1, 1)
    measured("saving", 1, 1)
    Generation.objects.filter(pk=measured.generation.pk).update(status="succeeded")
    running = ProgressReporter(start(user), min_interval=0, clock=clock)
    for i in range(1, 5):
        clock.tick(1.0)
        running("generating", i, 10)
    first, second = create(user), create(user)
    assert first.queue == second.queue == "cpu"
    return first, second


TOTAL = 10 * 1.0 + 0.5


def test_with_one_slot_the_second_queued_job_waits_for_both_ahead(one_running_two_queued):
    first, second = one_running_two_queued
    fleet.worker_register(hostname="only@h", queues=["cpu"], concurrency=1)

    assert generation_eta_seconds(generation=first) == pytest.approx(6.5 + TOTAL, abs=0.5)
    assert generation_eta_seconds(generation=second) == pytest.approx(6.5 + 2 * TOTAL, abs=0.5)


def test_with_two_slots_the_second_queued_job_starts_on_the_idle_worker(one_running_two_queued):
    first, second = one_running_two_queued
    fleet.worker_register(hostname="busy@h", queues=["cpu"], concurrency=1)
    fleet.worker_register(hostname="idle@h", queues=["cpu"], concurrency=1)

    # The first takes the idle slot now; the second the running job's slot in 6.5 s.
    assert generation_eta_seconds(generation=first) == pytest.approx(TOTAL, abs=0.5)
    assert generation_eta_seconds(generation=second) == pytest.approx(6.5 + TOTAL, abs=0.5)
    standings = generation_queue_standings(generations=[first, second])
    assert standings[first.pk] == (1, pytest.approx(TOTAL, abs=0.5))
    assert standings[second.pk] == (2, pytest.approx(6.5 + TOTAL, abs=0.5))


def test_without_registered_workers_the_running_jobs_are_the_slots(one_running_two_queued):
    first, second = one_running_two_queued  # nothing registered: as before the registry
    assert generation_eta_seconds(generation=second) == pytest.approx(6.5 + 2 * TOTAL, abs=0.5)


def test_without_redis_for_the_registry_the_running_jobs_are_the_slots(one_running_two_queued):
    first, second = one_running_two_queued
    fleet.worker_register(hostname="busy@h", queues=["cpu"], concurrency=1)
    fleet.worker_register(hostname="idle@h", queues=["cpu"], concurrency=1)
    with _redis_down():
        assert generation_eta_seconds(generation=second) == pytest.approx(6.5 + 2 * TOTAL, abs=0.5)
