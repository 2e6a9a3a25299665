"""The Generation state machine, engine choice and the charge at create time."""

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.core.exceptions import ApplicationError, ServiceUnavailable
from apps.generation import charges, services
from apps.generation.engines import engine_choose
from apps.generation.models import Generation
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db

T2V_PARAMS = {
    "num_frames": 8,
    "fps": 8,
    "width": 128,
    "height": 72,
    "quality": "fast",
    "enhance_prompt": False,
    "guidance_scale": 9.0,
}


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    sent = []
    monkeypatch.setattr(
        services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def create_t2v(user, **kw):
    return services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="a neon city at night",
        params=dict(T2V_PARAMS),
        **kw,
    ).generation


def test_create_charges_once_and_queues(user, django_capture_on_commit_callbacks, no_enqueue):
    before = credits_balance(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        generation = create_t2v(user)
    assert generation.status == "queued"
    assert generation.engine == "procedural"
    assert generation.queue == "cpu"
    assert generation.cost_credits == 1
    assert credits_balance(user=user) == before - 1
    spend = LedgerEntry.objects.get(kind="spend", reference=f"generation:{generation.pk}")
    assert spend.amount == -1
    assert no_enqueue == [generation.pk]


def test_create_assigns_a_seed_when_none_given(user):
    generation = create_t2v(user)
    assert 0 <= generation.seed < 2**32
    assert generation.params["seed"] == generation.seed


def test_mark_running_wins_only_once(user):
    generation = create_t2v(user)
    first = services.generation_mark_running(generation_id=generation.pk, worker="w1")
    second = services.generation_mark_running(generation_id=generation.pk, worker="w2")
    assert first is not None and first.status == "running"
    assert second is None
    generation.refresh_from_db()
    assert generation.worker == "w1" and generation.attempts == 1


def test_failure_refunds_exactly_once(user):
    generation = create_t2v(user)
    services.generation_mark_running(generation_id=generation.pk, worker="w")
    balance_while_running = credits_balance(user=user)
    assert services.generation_mark_failed(generation_id=generation.pk, error="boom") is True
    assert services.generation_mark_failed(generation_id=generation.pk, error="boom") is False
    assert credits_balance(user=user) == balance_while_running + generation.cost_credits
    assert (
        LedgerEntry.objects.filter(kind="refund", reference=f"generation:{generation.pk}").count()
        == 1
    )


def test_succeeded_job_cannot_fail_or_be_canceled(user):
    generation = create_t2v(user)
    services.generation_mark_running(generation_id=generation.pk, worker="w")
    assert services.generation_mark_succeeded(
        generation_id=generation.pk,
        video_name="v.mp4",
        thumbnail_name="t.jpg",
        width=128,
        height=72,
        fps=8,
        num_frames=8,
        duration_seconds=1.0,
        engine="procedural",
        notes=[],
    )
    assert services.generation_mark_failed(generation_id=generation.pk, error="late") is False
    generation.refresh_from_db()
    with pytest.raises(ApplicationError) as err:
        services.generation_cancel(generation=generation)
    assert err.value.status_code == 409
    assert not LedgerEntry.objects.filter(kind="refund").exists()


def test_cancel_queued_refunds_and_running_requests_stop(user):
    queued = create_t2v(user)
    canceled = services.generation_cancel(generation=queued)
    assert canceled.status == "canceled"
    assert (
        LedgerEntry.objects.filter(kind="refund", reference=f"generation:{queued.pk}").count() == 1
    )

    running = create_t2v(user)
    services.generation_mark_running(generation_id=running.pk, worker="w")
    result = services.generation_cancel(generation=running)
    assert result.status == "running" and result.cancel_requested is True
    assert not LedgerEntry.objects.filter(
        kind="refund", reference=f"generation:{running.pk}"
    ).exists()


def test_reaper_fails_and_refunds_jobs_without_heartbeat(user, settings):
    settings.GENERATION_HEARTBEAT_TIMEOUT = 60
    lost = create_t2v(user)
    alive = create_t2v(user)
    for g in (lost, alive):
        services.generation_mark_running(generation_id=g.pk, worker="w")
    Generation.objects.filter(pk=lost.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(seconds=120)
    )
    assert services.generation_reap_lost() == 1
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert lost.status == "failed" and "stopped responding" in lost.error
    assert alive.status == "running"
    assert services.generation_reap_lost() == 0
    assert LedgerEntry.objects.filter(kind="refund", reference=f"generation:{lost.pk}").count() == 1


class Crash(Exception):
    """The worker process dying between two writes."""


def crash(**kwargs):
    raise Crash


@pytest.mark.parametrize("end", ["fail", "cancel", "reap"])
def test_an_end_state_and_its_refund_are_written_together(user, settings, monkeypatch, end):
    """A job is never seen failed or canceled without its refund: when the refund cannot be
    written, the status change is rolled back with it, and a later try ends and refunds once."""
    settings.GENERATION_HEARTBEAT_TIMEOUT = 60
    generation = create_t2v(user)
    if end != "cancel":
        services.generation_mark_running(generation_id=generation.pk, worker="w")
        Generation.objects.filter(pk=generation.pk).update(
            heartbeat_at=timezone.now() - timezone.timedelta(seconds=120)
        )
    start_status = Generation.objects.get(pk=generation.pk).status
    balance = credits_balance(user=user)

    def finish():
        if end == "fail":
            services.generation_mark_failed(generation_id=generation.pk, error="boom")
        elif end == "cancel":
            services.generation_cancel(generation=Generation.objects.get(pk=generation.pk))
        else:
            services.generation_reap_lost()

    with monkeypatch.context() as patched:
        patched.setattr(charges, "credits_refund_spend", crash)
        with pytest.raises(Crash):
            finish()
    assert Generation.objects.get(pk=generation.pk).status == start_status
    assert credits_balance(user=user) == balance

    finish()
    assert Generation.objects.get(pk=generation.pk).status in ("failed", "canceled")
    assert credits_balance(user=user) == balance + generation.cost_credits


def test_a_success_is_never_written_without_its_library_item(user, monkeypatch):
    from apps.content import receivers
    from apps.content.models import ContentItem

    generation = create_t2v(user)
    services.generation_mark_running(generation_id=generation.pk, worker="w")
    succeed = {
        "generation_id": generation.pk,
        "video_name": "v.mp4",
        "thumbnail_name": "t.jpg",
        "width": 128,
        "height": 72,
        "fps": 8,
        "num_frames": 8,
        "duration_seconds": 1.0,
        "engine": "procedural",
        "notes": [],
    }

    with monkeypatch.context() as patched:
        patched.setattr(receivers, "content_item_create_for_generation", crash)
        with pytest.raises(Crash):
            services.generation_mark_succeeded(**succeed)
    assert Generation.objects.get(pk=generation.pk).status == "running"
    assert services.generation_mark_succeeded(**succeed) is True
    assert ContentItem.objects.filter(generation_id=generation.pk).count() == 1


def test_short_balance_writes_nothing(user, settings):
    settings.UPLOAD_MAX_BYTES = 10 * 1024 * 1024
    LedgerEntry.objects.all().delete()
    user.credit_account.balance = 0
    user.credit_account.save()
    with pytest.raises(ApplicationError) as err:
        services.generation_create(
            user=user,
            kind="image_to_video",
            image=upload(png_bytes()),
            params={
                "num_frames": 8,
                "fps": 7,
                "width": 128,
                "height": 72,
                "motion_strength": 0.5,
                "num_inference_steps": 25,
                "noise_aug_strength": 0.02,
                "min_guidance_scale": 1.0,
                "max_guidance_scale": 3.0,
            },
        )
    assert err.value.status_code == 402
    assert Generation.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


@override_settings(GENERATION_ENGINE="auto", SVD_MODEL="", ZEROSCOPE_MODEL="")
def test_auto_picks_procedural_without_models():
    assert engine_choose(kind="image_to_video", requested="auto") == "procedural"
    assert engine_choose(kind="text_to_video", requested="auto") == "procedural"


@override_settings(GENERATION_ENGINE="auto", SVD_MODEL="/models/svd", ZEROSCOPE_MODEL="")
def test_auto_picks_diffusers_when_a_model_is_configured():
    assert engine_choose(kind="image_to_video", requested="auto") == "svd"
    assert engine_choose(kind="text_to_video", requested="auto") == "procedural"


@override_settings(GENERATION_ENGINE="procedural", SVD_MODEL="/models/svd")
def test_explicit_engine_that_is_disabled_is_refused_before_charging():
    with pytest.raises(ServiceUnavailable):
        engine_choose(kind="image_to_video", requested="svd")


def test_engine_must_match_kind():
    with pytest.raises(ApplicationError) as err:
        engine_choose(kind="text_to_video", requested="svd")
    assert err.value.code == "invalid_engine"
