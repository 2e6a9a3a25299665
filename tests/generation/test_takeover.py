"""A running job's message delivered again (its worker died): who may run it again, and when.
The runner is gone when it was on this machine and its process is gone, or when its heartbeat
is older than 4 intervals; only the row's current message may take over; runs are bounded."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.generation import services
from apps.generation.models import Generation
from apps.generation.storyboards.running import (
    ASSEMBLING,
    storyboard_assembly_take_over,
)

pytestmark = pytest.mark.django_db

PARAMS = {"num_frames": 8, "width": 128, "height": 72, "fps": 8, "enhance_prompt": False}
HOST = "celery@machine-a"


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def me() -> str:
    return services.worker_name(HOST)  # this process: a live pid on HOST


def running_job(user, *, worker: str, heartbeat_age: float = 0.0) -> Generation:
    generation = services.generation_create(
        user=user, kind="text_to_video", engine="procedural", params=PARAMS
    ).generation
    services.generation_mark_running(generation_id=generation.pk, worker=worker)
    Generation.objects.filter(pk=generation.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age), progress=0.4, step=3
    )
    return Generation.objects.get(pk=generation.pk)


def test_a_dead_runner_on_this_machine_is_taken_over_at_once_from_zero(user):
    job = running_job(user, worker=f"{HOST}:{dead_pid()}")
    verdict, generation = services.generation_take_over(
        generation_id=job.pk, task_id=job.task_id, worker=me()
    )
    assert verdict == "run"
    assert (generation.attempts, generation.progress, generation.step) == (2, 0.0, 0)
    assert generation.worker == me() and generation.status == "running"
    kinds = LedgerEntry.objects.filter(reference=job.spend_reference).values_list("kind", flat=True)
    assert list(kinds) == ["spend"]  # the same charge


def test_a_live_runner_is_waited_for_and_a_silent_one_elsewhere_taken_over(user, settings):
    settings.GENERATION_HEARTBEAT_INTERVAL = 5.0
    alive_here = running_job(user, worker=me())
    assert services.generation_take_over(
        generation_id=alive_here.pk, task_id=alive_here.task_id, worker=me()
    ) == ("wait", None)

    elsewhere = running_job(user, worker="celery@machine-b:123", heartbeat_age=5.0)
    assert services.generation_take_over(
        generation_id=elsewhere.pk, task_id=elsewhere.task_id, worker=me()
    ) == ("wait", None)
    Generation.objects.filter(pk=elsewhere.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=21)
    )
    verdict, _ = services.generation_take_over(
        generation_id=elsewhere.pk, task_id=elsewhere.task_id, worker=me()
    )
    assert verdict == "run"


def test_only_the_rows_current_message_takes_over(user):
    job = running_job(user, worker=f"{HOST}:{dead_pid()}")
    assert services.generation_take_over(
        generation_id=job.pk, task_id="an-old-duplicate", worker=me()
    ) == ("skip", None)
    assert Generation.objects.get(pk=job.pk).attempts == 1


def test_the_last_allowed_run_dying_fails_and_refunds_once(user, settings):
    settings.GENERATION_MAX_ATTEMPTS = 2
    job = running_job(user, worker=f"{HOST}:{dead_pid()}")
    assert (
        services.generation_take_over(generation_id=job.pk, task_id=job.task_id, worker=me())[0]
        == "run"
    )
    Generation.objects.filter(pk=job.pk).update(worker=f"{HOST}:{dead_pid()}")
    assert services.generation_take_over(
        generation_id=job.pk, task_id=job.task_id, worker=me()
    ) == ("failed", None)
    job.refresh_from_db()
    assert job.status == "failed" and "stopped 2 times" in job.error
    kinds = LedgerEntry.objects.filter(reference=job.spend_reference).values_list("kind", flat=True)
    assert sorted(kinds) == ["refund", "spend"]
    assert services.generation_take_over(
        generation_id=job.pk, task_id=job.task_id, worker=me()
    ) == ("skip", None)


def test_an_assembly_whose_worker_died_is_assembled_again_then_given_up(user, settings):
    settings.GENERATION_MAX_ATTEMPTS = 2
    board = Generation.objects.create(
        user=user,
        kind="storyboard",
        status="running",
        stage=ASSEMBLING,
        worker=f"{HOST}:{dead_pid()}",
        task_id="assembly-1",
        assembly_runs=1,
        heartbeat_at=timezone.now(),
        params={"assembly_credits": 1},
    )
    assert storyboard_assembly_take_over(
        generation_id=board.pk, task_id="assembly-0", worker=me()
    ) == ("skip", None)
    verdict, generation = storyboard_assembly_take_over(
        generation_id=board.pk, task_id="assembly-1", worker=me()
    )
    assert verdict == "run" and generation.assembly_runs == 2
    Generation.objects.filter(pk=board.pk).update(worker=f"{HOST}:{dead_pid()}")
    assert storyboard_assembly_take_over(
        generation_id=board.pk, task_id="assembly-1", worker=me()
    ) == ("failed", None)
    assert Generation.objects.get(pk=board.pk).status == "failed"
