"""The progress reporter, queue positions and ETAs from measured throughput."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.generation import eta, events, progress, services
from apps.generation.models import Generation
from apps.generation.progress import ProgressReporter
from apps.generation.selectors import generation_eta_seconds, generation_queue_position
from workers.engines.base import GenerationCanceled

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_eta")]

PARAMS = {"num_frames": 10, "fps": 8, "width": 128, "height": 72, "enhance_prompt": False}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)


@pytest.fixture
def sent(monkeypatch):
    """The events the reporter sends, instead of the channel layer."""
    captured: list[dict] = []
    monkeypatch.setattr(progress, "send_event", lambda *, generation, event: captured.append(event))
    return captured


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


def create(user, **params) -> Generation:
    return services.generation_create(
        user=user, kind="text_to_video", prompt="stars", params={**PARAMS, **params}
    ).generation


def start(user, **params) -> Generation:
    generation = create(user, **params)
    return services.generation_mark_running(generation_id=generation.pk, worker="w")


def run_job(reporter: ProgressReporter, clock: Clock, *, frames: int, step: float, pre=0.0):
    """Report a whole job (`pre` s, then `frames` steps of `step` s, then 0.5 s); finish it."""
    clock.tick(pre)
    for i in range(1, frames + 1):
        clock.tick(step)
        reporter("generating", i, frames)
    clock.tick(0.5)
    reporter("encoding", 1, 1)
    reporter("saving", 1, 1)
    Generation.objects.filter(pk=reporter.generation.pk).update(status="succeeded")


# --- the reporter ---------------------------------------------------------------------------


def test_progress_rises_through_stages_and_never_goes_back(user, sent):
    generation = start(user)
    reporter = ProgressReporter(generation, min_interval=0)
    reporter("generating", 1, 4)
    reporter("generating", 3, 4)
    reporter("generating", 2, 4)  # an engine that reports out of order cannot move the bar back
    reporter("encoding", 1, 1)
    reporter("saving", 1, 1)
    values = [e["progress"] for e in sent]
    assert values == sorted(values)
    assert values[-1] == 1.0
    assert [e["stage"] for e in sent] == ["generating"] * 3 + ["encoding", "saving"]
    assert all(e["type"] == "progress" and e["status"] == "running" for e in sent)
    assert all(e["queue_position"] is None for e in sent)
    generation.refresh_from_db()
    assert (generation.stage, generation.progress) == ("saving", 1.0)


def test_row_writes_are_throttled_but_stage_changes_are_written(user, sent):
    generation = start(user)
    clock = Clock()
    reporter = ProgressReporter(generation, min_interval=60, clock=clock)
    reporter("generating", 1, 10)  # stage change: written
    clock.tick(1)
    reporter("generating", 2, 10)  # throttled
    generation.refresh_from_db()
    assert (generation.step, generation.total_steps) == (1, 10)
    assert len(sent) == 2  # every update is still sent live
    reporter("generating", 10, 10)  # end of the stage: written
    generation.refresh_from_db()
    assert generation.step == 10


def test_cancel_stops_the_job_at_the_next_step_even_between_writes(
    user, sent, django_capture_on_commit_callbacks
):
    generation = start(user)
    clock = Clock()
    reporter = ProgressReporter(generation, min_interval=60, clock=clock)
    reporter("generating", 1, 100)
    with django_capture_on_commit_callbacks(execute=True):
        services.generation_cancel(generation=Generation.objects.get(pk=generation.pk))
    clock.tick(2 * progress.CANCEL_CHECK_INTERVAL)
    with pytest.raises(GenerationCanceled):
        reporter("generating", 2, 100)
    # Step 2 was made (and reported) before the check; the engine makes no step 3.
    assert [e["step"] for e in sent] == [1, 2]
    generation.refresh_from_db()
    assert generation.step == 1  # the refused write: the row keeps the last step before


def test_the_check_between_writes_reads_redis_not_the_database(user, sent):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clock = Clock()
    reporter = ProgressReporter(start(user), min_interval=60, clock=clock)
    reporter("generating", 1, 100)  # the stage change is written
    clock.tick(2 * progress.CANCEL_CHECK_INTERVAL)
    with CaptureQueriesContext(connection) as queries:
        reporter("generating", 2, 100)  # a cancel check, no write
    assert len(queries) == 0


def test_a_cancel_rolled_back_raises_no_flag(user, django_capture_on_commit_callbacks):
    from django.db import transaction

    generation = start(user)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.generation_cancel(generation=generation)
        raise RuntimeError("the request failed after the cancel")
    assert not progress.cancel_flag_raised(generation.pk)
    assert Generation.objects.get(pk=generation.pk).cancel_requested is False


def test_without_redis_a_cancel_still_stops_the_job_at_its_next_write(
    user, sent, monkeypatch, django_capture_on_commit_callbacks
):
    generation = start(user)
    clock = Clock()
    reporter = ProgressReporter(generation, min_interval=1.0, clock=clock)
    reporter("generating", 1, 100)

    def no_redis():
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as patch:  # undone before the fixtures' Redis clean-up
        patch.setattr(eta, "_redis", no_redis)
        with django_capture_on_commit_callbacks(execute=True):  # raising the flag fails
            services.generation_cancel(generation=Generation.objects.get(pk=generation.pk))
        clock.tick(2 * progress.CANCEL_CHECK_INTERVAL)
        reporter("generating", 2, 100)  # no flag to see: goes on until the write
        clock.tick(1.0)
        with pytest.raises(GenerationCanceled):
            reporter("generating", 3, 100)


def test_a_job_no_longer_running_stops_at_its_next_write(user, sent):
    generation = start(user)
    reporter = ProgressReporter(generation, min_interval=0)
    reporter("generating", 1, 10)
    services.generation_mark_failed(generation_id=generation.pk, error="reaped")
    with pytest.raises(GenerationCanceled):
        reporter("generating", 2, 10)


# --- ETA ------------------------------------------------------------------------------------


def test_eta_is_unknown_without_measurements(user, sent):
    queued = create(user)
    assert generation_eta_seconds(generation=queued) is None
    running = start(user)
    reporter = ProgressReporter(running, min_interval=0)
    reporter("generating", 1, 10)  # one step: no rate yet, and no profile
    assert sent[-1]["eta_seconds"] is None
    assert generation_eta_seconds(generation=running) is None


def test_running_eta_is_remaining_steps_times_recent_step_time(user, sent):
    clock = Clock()
    reporter = ProgressReporter(start(user), min_interval=0, clock=clock)
    for i in range(1, 5):
        clock.tick(2.0)
        reporter("generating", i, 10)
    assert sent[-1]["eta_seconds"] == pytest.approx(6 * 2.0)


def test_a_finished_job_records_its_timings_without_its_queue_wait(user, sent):
    generation = create(user)
    Generation.objects.filter(pk=generation.pk).update(
        created_at=timezone.now() - timedelta(hours=1)  # waited an hour in the queue
    )
    generation = services.generation_mark_running(generation_id=generation.pk, worker="w")
    clock = Clock()
    run_job(ProgressReporter(generation, clock=clock), clock, frames=10, step=0.25, pre=1.0)
    profile = eta.profile_get(eta.job_shape(generation))
    assert profile.step == pytest.approx(0.25)
    assert profile.pre == pytest.approx(1.0)
    assert profile.post == pytest.approx(0.5)


def test_the_next_job_uses_the_measured_profile_from_its_first_report(user, sent):
    clock = Clock()
    run_job(ProgressReporter(start(user), clock=clock), clock, frames=10, step=1.0)
    sent.clear()
    second = start(user)
    assert generation_eta_seconds(generation=second) == pytest.approx(10 * 1.0 + 0.5)
    reporter = ProgressReporter(second, clock=clock)
    clock.tick(1.0)
    reporter("generating", 1, 10)
    assert sent[-1]["eta_seconds"] == pytest.approx(9 * 1.0 + 0.5)
    # The snapshot (another process) reads the figure the reporter published.
    assert generation_eta_seconds(generation=second) == pytest.approx(9.5, abs=0.5)


def test_other_sizes_scale_from_the_engine_wide_rate(user, sent):
    clock = Clock()
    run_job(ProgressReporter(start(user), clock=clock), clock, frames=10, step=1.0)
    bigger = create(user, width=256, height=144)  # four times the pixels per frame
    assert generation_eta_seconds(generation=bigger) == pytest.approx(10 * 4.0 + 0.5 * 4)


def test_queued_eta_adds_the_work_ahead_but_not_the_own_wait(user, sent):
    clock = Clock()
    run_job(ProgressReporter(start(user), clock=clock), clock, frames=10, step=1.0)
    running = start(user)
    reporter = ProgressReporter(running, min_interval=0, clock=clock)
    for i in range(1, 5):
        clock.tick(1.0)
        reporter("generating", i, 10)  # 6 steps left: 6.5 s
    ahead, mine = create(user), create(user)
    Generation.objects.filter(pk=mine.pk).update(created_at=timezone.now() + timedelta(seconds=1))
    mine.refresh_from_db()
    total = 10 * 1.0 + 0.5
    assert generation_queue_position(generation=mine) == 2
    assert generation_eta_seconds(generation=ahead) == pytest.approx(6.5 + total, abs=0.5)
    assert generation_eta_seconds(generation=mine) == pytest.approx(6.5 + 2 * total, abs=0.5)


def test_snapshots_of_many_jobs_are_each_ones_own_for_a_fixed_number_of_queries(user, sent):
    """ws/me's snapshot: one schedule per queue, not a count and an estimate per queued job."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    clock = Clock()
    run_job(ProgressReporter(start(user), clock=clock), clock, frames=10, step=1.0)

    def snapshot(jobs):
        with CaptureQueriesContext(connection) as queries:
            batch = events.snapshot_events(jobs)
        assert batch == [events.snapshot_event(g) for g in jobs]
        return batch, len(queries)

    jobs = [*Generation.objects.all(), create(user), create(user, width=256, height=144)]
    batch, few = snapshot(jobs)
    assert [e["type"] for e in batch] == ["finished", "progress", "progress"]
    assert [e["queue_position"] for e in batch[1:]] == [1, 2]
    assert batch[1]["eta_seconds"] == pytest.approx(10.5)
    assert batch[2]["eta_seconds"] == pytest.approx(10.5 + 10 * 4.0 + 0.5 * 4)
    _, many = snapshot(jobs + [create(user) for _ in range(6)])
    assert many == few


def test_a_job_leaving_the_queue_refreshes_every_waiting_position(user, monkeypatch):
    batches: list[list[tuple[Generation, dict]]] = []
    monkeypatch.setattr(events, "send_events", lambda items: batches.append(list(items)))
    first, second, third = create(user), create(user), create(user)
    assert generation_queue_position(generation=third) == 3

    services.generation_mark_running(generation_id=first.pk, worker="w")
    sent = {str(g.pk): e for g, e in batches[-1]}
    assert sent[str(first.pk)]["status"] == "running"
    assert sent[str(second.pk)]["queue_position"] == 1
    assert sent[str(third.pk)]["queue_position"] == 2

    services.generation_cancel(generation=second)
    sent = {str(g.pk): e for g, e in batches[-1]}
    assert sent[str(second.pk)]["type"] == "finished"
    assert sent[str(third.pk)]["queue_position"] == 1


def test_positions_break_ties_in_creation_time_by_id(user):
    first, second = create(user), create(user)
    Generation.objects.filter(pk__in=[first.pk, second.pk]).update(created_at=timezone.now())
    positions = sorted(
        generation_queue_position(generation=Generation.objects.get(pk=g.pk))
        for g in (first, second)
    )
    assert positions == [1, 2]


# --- publishing from sync code ---------------------------------------------------------------


def test_send_events_from_sync_code_in_a_thread_whose_loop_runs_still_delivers_in_order():
    """E.g. a sync ORM/service call between steps of Playwright's sync API: the thread has a
    running loop, so the publisher hands the send to its helper thread and waits."""
    import asyncio

    from channels.layers import get_channel_layer

    generation = Generation(id=uuid.uuid4(), user_id=987654)
    layer = get_channel_layer()

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add(events.group_for_generation(generation.pk), channel)
        for n in range(3):
            events.send_events([(generation, {"type": "progress", "n": n})])  # sync, blocking
        got = [(await asyncio.wait_for(layer.receive(channel), 5))["event"]["n"] for _ in range(3)]
        await layer.group_discard(events.group_for_generation(generation.pk), channel)
        return got

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_a_channel_layer_outage_is_one_warning_not_one_per_event(monkeypatch, caplog):
    """A running job keeps reporting while Redis is away: the first failed publish is logged
    with its traceback, the rest at DEBUG, and the first that works again says so."""
    import logging

    from apps.generation.channel_layer import RedisChannelLayer
    from tests.processes import free_port, redis_server

    port = free_port()  # nothing listens there yet
    layer = RedisChannelLayer(hosts=[f"redis://127.0.0.1:{port}/0"], prefix="outage-test:")
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(events, "_failing", events.threading.Event())
    caplog.set_level(logging.DEBUG, logger=events.logger.name)
    generation = Generation(id=uuid.uuid4(), user_id=987654)

    def logged():
        return [
            (r.levelname, r.getMessage().split(";")[0], r.exc_info is not None)
            for r in caplog.records
            if r.name == events.logger.name
        ]

    for n in range(5):
        events.send_event(generation=generation, event={"type": "progress", "n": n})
    during = logged()
    caplog.clear()
    with redis_server(port):
        events.send_event(generation=generation, event={"type": "progress", "n": 5})
        events.send_event(generation=generation, event={"type": "progress", "n": 6})
        events._publisher.run(layer.flush())

    assert (
        during
        == [("WARNING", "Could not publish 2 live event(s)", True)]
        + [("DEBUG", "Could not publish 2 live event(s)", True)] * 4
    )
    assert logged() == [("WARNING", "Live events are published again", False)]
