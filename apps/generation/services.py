"""Writes to generations: create (with the charge), the state machine, cancel, reaping.

Below this module: the ledger side of a job (charges), its files (outputs), the screens run on
its text and pictures (apps.core.screening, apps.core.image_screen), and the Celery tasks it
sends by name (dispatch). Above it: the tasks, the storyboards package and the API and page
views; none of them is imported here. `generation_admit` is the cap on a user's active jobs.

Every state change is a conditional UPDATE (`WHERE status IN (...)`) whose row count says
whether this caller won the transition; only the winner refunds or enqueues, so a task
delivered twice, a cancel racing a finish, or a reaper racing a late worker cannot act twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.billing.models import CreditAccount
from apps.billing.pricing import price_generation
from apps.billing.services import credits_account_lock, credits_spend
from apps.core.exceptions import ApplicationError
from apps.core.image_screen import image_screen
from apps.core.screening import prompt_screen
from apps.core.uploads import image_ingest

from .charges import generation_refund
from .dispatch import GENERATION_RUN, new_task_id, task_send
from .engines import engine_choose, engine_model, engine_queue
from .events import generation_broadcast
from .exceptions import (
    GenerationNotCancelable,
    IdempotencyKeyReused,
    InvalidGenerationInput,
    QueueUnavailable,
)
from .models import Generation, StoryboardScene
from .outputs import generation_discard_outputs
from .signals import generation_finished, generation_started, generation_succeeded

logger = logging.getLogger(__name__)
Status = Generation.Status
ASSEMBLY_QUEUED = "assembly queued"  # a storyboard's stage while its assembly waits
SVD_MAX_FRAMES = 25
ZEROSCOPE_STEPS = {"fast": 20, "high": 50}
QUEUE_DOWN_ERROR = "The job queue was unavailable, so this job never started; it was refunded."
QUEUE_DOWN_DETAIL = (
    "The job queue is unavailable right now, so the job was not started and nothing was "
    "charged. Try again shortly (the same Idempotency-Key is fine)."
)


def _fingerprint(
    *,
    kind,
    engine,
    prompt,
    negative_prompt,
    params,
    image_bytes: bytes | None,
    webhook: str = "",
    webhook_events_filter: list | None = None,
) -> str:
    body = {
        "kind": kind,
        "engine": engine,
        "prompt": prompt,
        "negative_prompt": negative_prompt,
        "params": params,
        "image": hashlib.sha256(image_bytes).hexdigest() if image_bytes is not None else None,
    }
    if webhook:  # (only then: the fingerprints of bodies without one stay as they were)
        body["webhook"] = [webhook, webhook_events_filter]
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def params_finalize(*, kind: str, engine: str, params: dict) -> dict:
    """Fill what depends on the engine, and check the engine's own limits."""
    params = dict(params)
    params.setdefault("seed", secrets.randbelow(2**32))
    if kind == Generation.Kind.TEXT_TO_VIDEO:
        params.setdefault("num_inference_steps", ZEROSCOPE_STEPS[params.get("quality", "fast")])
    if engine == "svd":
        if params["num_frames"] > SVD_MAX_FRAMES:
            raise InvalidGenerationInput(
                f"params: num_frames: SVD makes at most {SVD_MAX_FRAMES} frames per clip."
            )
        if params["width"] % 64 or params["height"] % 64:
            raise InvalidGenerationInput(
                "params: width and height must be multiples of 64 for SVD."
            )
    if engine == "zeroscope" and (params["width"] % 64 or params["height"] % 64):
        raise InvalidGenerationInput(
            "params: width and height must be multiples of 64 for Zeroscope."
        )
    return params


def generation_quote(*, kind: str, engine: str, params: dict) -> tuple[str, int]:
    resolved = engine_choose(kind=kind, requested=engine)
    params = params_finalize(kind=kind, engine=resolved, params=params)
    return resolved, price_generation(kind=kind, engine=resolved, params=params)


def prompt_compose(*, kind: str, engine: str, prompt: str, persona, params: dict) -> str:
    """The prompt the engine gets: the user's words, the persona's description and style, and
    (for diffusion text-to-video, when enabled) the prompt enhancement."""
    parts = [prompt.strip()]
    if persona is not None:
        parts += [persona.description.strip(), persona.style.strip()]
    composed = ", ".join(p for p in parts if p)
    if engine == "zeroscope" and params.get("enhance_prompt", True) and composed:
        from workers.prompts import enhance_prompt

        composed = enhance_prompt(composed)
    return composed


class TooManyActiveGenerations(ApplicationError):
    status_code = 429
    default_code = "too_many_active"


def generation_admit(*, user) -> CreditAccount:
    """Refuse a new job (429 `too_many_active`) while the user has their limit of jobs queued or
    running: their own `max_active_generations` (set by staff), else
    MAX_ACTIVE_GENERATIONS_PER_USER. A storyboard is one job, however many scenes it has.

    Call it inside the charging transaction, before the job's row is written: it locks the
    user's credit account (apps.billing.services.credits_account_lock) until that transaction
    ends, so concurrent creates of one user are counted one after the other and cannot both
    take the last place; the charge then waits on the same lock. Returns the locked account,
    for `credits_spend(account=...)`.
    """
    account = credits_account_lock(user=user)
    limit = user.max_active_generations
    if limit is None:
        limit = settings.MAX_ACTIVE_GENERATIONS_PER_USER
    active = Generation.objects.filter(
        user_id=user.pk, status__in=[Status.QUEUED, Status.RUNNING]
    ).count()
    if active >= limit:
        raise TooManyActiveGenerations(
            f"You have {active} jobs queued or running, the most you may have at once "
            f"({limit}); nothing was charged. Create this one when one of them has finished.",
            extra={"active": active, "limit": limit},
        )
    return account


@dataclass(frozen=True)
class CreateResult:
    generation: Generation
    created: bool


def generation_create(
    *,
    user,
    kind: str,
    engine: str = "auto",
    prompt: str = "",
    negative_prompt: str = "",
    params: dict | None = None,
    image=None,
    persona=None,
    idempotency_key: str = "",
    webhook: str = "",
    webhook_events_filter: list[str] | None = None,
) -> CreateResult:
    """Validate, price, charge and create in one transaction; enqueue once it commits.

    With an `idempotency_key`, the same key and body return the first Generation (charged once);
    the same key with another body is a 409. `webhook` (checked by the caller with
    apps.core.urls_safety) receives the events in `webhook_events_filter` (apps.webhooks).
    """
    persona_text = (persona.name, persona.description, persona.style) if persona else ()
    prompt_screen(text="\n".join((prompt, negative_prompt, *persona_text)))
    params = dict(params or {})
    image_bytes = None
    if image is not None:
        image.seek(0)
        image_bytes = image.read()
        image.seek(0)
    fingerprint = _fingerprint(
        kind=kind,
        engine=engine,
        prompt=prompt,
        negative_prompt=negative_prompt,
        params=params,
        image_bytes=image_bytes,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
    )
    if idempotency_key:
        existing = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
        if existing:
            return CreateResult(existing, created=False)

    resolved = engine_choose(kind=kind, requested=engine)
    params = params_finalize(kind=kind, engine=resolved, params=params)
    final_prompt = prompt_compose(
        kind=kind, engine=resolved, prompt=prompt, persona=persona, params=params
    )
    if final_prompt != prompt.strip():
        params["final_prompt"] = final_prompt
    cost = price_generation(kind=kind, engine=resolved, params=params)
    if image is not None:
        ingested = image_ingest(image)
    elif kind == Generation.Kind.IMAGE_TO_VIDEO and persona is not None and persona.reference_image:
        with persona.reference_image.open("rb") as fh:
            ingested = image_ingest(ContentFile(fh.read(), name="reference.png"), field="persona")
    else:
        ingested = None
    if ingested is not None:
        image_screen(
            data=ingested.content.read(), field="image" if image is not None else "persona"
        )
        ingested.content.seek(0)

    generation = Generation(
        user=user,
        kind=kind,
        persona=persona,
        engine_requested=engine,
        engine=resolved,
        queue=engine_queue(resolved),
        prompt=prompt.strip(),
        negative_prompt=negative_prompt.strip(),
        params=params,
        seed=params["seed"],
        cost_credits=cost,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        task_id=new_task_id(),
        enqueued_at=timezone.now(),
        webhook=webhook,
        webhook_events_filter=list(webhook_events_filter or []) if webhook else [],
    )
    if resolved != "procedural":
        generation.params["model"] = engine_model(resolved)
    stored_name = None
    try:
        with transaction.atomic():
            account = generation_admit(user=user)
            credits_spend(
                user=user,
                amount=cost,
                reference=generation.spend_reference,
                note=f"{kind.replace('_', ' ')} ({resolved})",
                account=account,
            )
            if ingested is not None:
                generation.input_image.save("input.png", ingested.content, save=False)
                stored_name = generation.input_image.name
            generation.save(force_insert=True)
            # After the commit; a broker that refuses it raises QueueUnavailable out of here.
            transaction.on_commit(lambda: _enqueue_created(generation))
    except QueueUnavailable:
        raise  # committed, then failed and refunded: the input stays with the failed job
    except IntegrityError:
        if stored_name:
            default_storage.delete(stored_name)
        if idempotency_key:
            existing = _idempotent_replay(user=user, key=idempotency_key, fingerprint=fingerprint)
            if existing:
                return CreateResult(existing, created=False)
        raise
    except BaseException:
        if stored_name:
            default_storage.delete(stored_name)
        raise
    return CreateResult(generation, created=True)


def _idempotent_replay(*, user, key: str, fingerprint: str) -> Generation | None:
    existing = Generation.objects.filter(user=user, idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body."
        )
    return existing


def generation_enqueue(*, generation: Generation) -> None:
    """Send the job's task under the id its row names; raises when the broker cannot take it.

    `generation` must be the row as it is now (just created, or just queued again): its live
    event is built from it without reading it again, and the queue position and ETA computed
    for the event stay on it for the response (events.generation_broadcast).
    """
    task_send(
        GENERATION_RUN, str(generation.pk), queue=generation.queue, task_id=generation.task_id
    )
    generation_broadcast(generation_id=generation.pk, generation=generation)


def _enqueue_created(generation: Generation) -> None:
    """Send a job just created. When the broker cannot take it, the job fails and is refunded
    at once, its Idempotency-Key is released (the client's retry after the outage creates the
    job), and the caller gets QueueUnavailable (503, `queue_unavailable`)."""
    try:
        generation_enqueue(generation=generation)
    except Exception as exc:
        logger.warning("Could not enqueue generation %s: %s", generation.pk, exc)
        generation_mark_failed(
            generation_id=generation.pk,
            error=QUEUE_DOWN_ERROR,
            reason="not enqueued",
            release_key=True,
        )
        raise QueueUnavailable(QUEUE_DOWN_DETAIL) from None


# --- the state machine ------------------------------------------------------------------------


def _transition(*, generation_id, from_statuses, **values) -> bool:
    values.setdefault("updated_at", timezone.now())
    updated = Generation.objects.filter(pk=generation_id, status__in=from_statuses).update(**values)
    return updated == 1


def generation_mark_running(*, generation_id, worker: str) -> Generation | None:
    """queued → running. Returns the generation when this caller won, None otherwise."""
    now = timezone.now()
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None:
        return None
    won = _transition(
        generation_id=generation_id,
        from_statuses=[Status.QUEUED],
        status=Status.RUNNING,
        stage="loading model" if generation.engine != "procedural" else "generating",
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
        attempts=generation.attempts + 1,
    )
    if not won:
        return None
    generation.refresh_from_db()
    generation_started.send(sender=Generation, generation=generation)
    generation_broadcast(generation_id=generation_id)
    return generation


def worker_name(hostname: str | None) -> str:
    """How a running job names its runner: the Celery hostname and this process's id."""
    return f"{hostname or 'worker'}:{os.getpid()}"


def runner_gone(*, worker: str, heartbeat_at, me: str, now) -> bool:
    """Whether the process that ran a job is gone: on this machine (the same Celery hostname),
    its pid answers no signal; elsewhere, its heartbeat is older than 4 intervals."""
    host, _, pid = worker.rpartition(":")
    my_host = me.rpartition(":")[0]
    if host and host == my_host and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # alive, someone else's
    stale = timedelta(seconds=4 * settings.GENERATION_HEARTBEAT_INTERVAL)
    return heartbeat_at is None or heartbeat_at < now - stale


def generation_take_over(
    *, generation_id, task_id: str, worker: str
) -> tuple[str, Generation | None]:
    """A running job's message delivered again: its worker died (acks_late and
    reject_on_worker_lost put the message back). Returns what the task should do:

    - ("run", generation): the runner is gone; the job starts again from zero (the same charge),
      as run number `attempts`;
    - ("wait", None): the runner may still be alive elsewhere; look again shortly;
    - ("skip", None): not this job's current message (a duplicate), or the job is not running;
    - ("failed", None): it already ran GENERATION_MAX_ATTEMPTS times; failed and refunded.
    """
    generation = Generation.objects.filter(pk=generation_id).first()
    if generation is None or generation.status != Status.RUNNING:
        return "skip", None
    if generation.task_id and task_id != generation.task_id:
        return "skip", None
    now = timezone.now()
    if not runner_gone(
        worker=generation.worker, heartbeat_at=generation.heartbeat_at, me=worker, now=now
    ):
        return "wait", None
    if generation.attempts >= settings.GENERATION_MAX_ATTEMPTS:
        runs = generation.attempts
        generation_mark_failed(
            generation_id=generation_id,
            error=f"The worker running this job stopped {runs} time{'s' if runs != 1 else ''} "
            "before it finished; your credits were refunded.",
            reason="worker lost",
        )
        return "failed", None
    won = Generation.objects.filter(
        pk=generation_id,
        status=Status.RUNNING,
        worker=generation.worker,
        attempts=generation.attempts,
    ).update(
        stage="loading model" if generation.engine != "procedural" else "generating",
        progress=0.0,
        step=0,
        total_steps=0,
        started_at=now,
        heartbeat_at=now,
        worker=worker[:255],
        attempts=generation.attempts + 1,
        updated_at=now,
    )
    if not won:
        return "skip", None
    logger.warning(
        "Generation %s: its worker %s was lost; running it again (run %d of %d)",
        generation_id,
        generation.worker,
        generation.attempts + 1,
        settings.GENERATION_MAX_ATTEMPTS,
    )
    generation.refresh_from_db()
    generation_broadcast(generation_id=generation_id)
    return "run", generation


def generation_heartbeat(*, generation_id) -> bool:
    """Record that the worker is alive. False when the job is no longer running."""
    return (
        Generation.objects.filter(pk=generation_id, status=Status.RUNNING).update(
            heartbeat_at=timezone.now()
        )
        == 1
    )


def generation_mark_succeeded(
    *,
    generation_id,
    video_name: str,
    thumbnail_name: str,
    width: int,
    height: int,
    fps: float,
    num_frames: int,
    duration_seconds: float,
    engine: str,
    notes: list[str],
    generation_time: float | None = None,
    recipe: dict | None = None,
) -> bool:
    """RUNNING → SUCCEEDED with the outputs and the run's `generation_time` (seconds of engine
    work) and `recipe` (model, revision, device, versions), in one transition."""
    now = timezone.now()
    with transaction.atomic():  # never succeeded without what its receivers write (library)
        won = _transition(
            generation_id=generation_id,
            from_statuses=[Status.RUNNING],
            status=Status.SUCCEEDED,
            stage="done",
            progress=1.0,
            video=video_name,
            thumbnail=thumbnail_name,
            width=width,
            height=height,
            fps=fps,
            num_frames=num_frames,
            duration_seconds=duration_seconds,
            engine=engine,
            notes=notes,
            generation_time=None if generation_time is None else round(generation_time, 3),
            recipe=recipe or {},
            finished_at=now,
            heartbeat_at=now,
        )
        if won:
            succeeded = Generation.objects.get(pk=generation_id)
            generation_succeeded.send(sender=Generation, generation=succeeded)
            generation_finished.send(sender=Generation, generation=succeeded)
    if won:
        generation_broadcast(generation_id=generation_id, finished=True)
    return won


def _end_refunded(*, rows, generation_id, note: str, **values) -> bool:
    """End a job (failed or canceled) and refund it, in one transaction: a process that dies
    in between leaves the job as it was, never ended without its refund. `rows` holds the job
    only while this move is allowed. Then its outputs go and its subscribers hear the end."""
    values.setdefault("updated_at", timezone.now())
    with transaction.atomic():
        won = rows.filter(pk=generation_id).update(**values) == 1
        if won:
            generation_refund(generation_id=generation_id, note=note)
            generation_finished.send(
                sender=Generation, generation=Generation.objects.get(pk=generation_id)
            )
    if won:
        generation_discard_outputs(generation_id=generation_id)
        generation_broadcast(generation_id=generation_id, finished=True)
    return won


def generation_mark_failed(
    *, generation_id, error: str, reason: str = "failed", release_key: bool = False
) -> bool:
    """queued|running → failed, and the spend refunded exactly once. `release_key`: the job's
    Idempotency-Key no longer names it (it never started; a retry must create it)."""
    released = {"idempotency_key": "", "request_fingerprint": ""} if release_key else {}
    return _end_refunded(
        rows=Generation.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]),
        generation_id=generation_id,
        note=f"Refund: generation {reason} — {error[:200]}",
        status=Status.FAILED,
        stage="failed",
        error=error[:2000],
        finished_at=timezone.now(),
        **released,
    )


def generation_mark_canceled(*, generation_id, from_statuses=(Status.RUNNING,)) -> bool:
    """→ canceled, and the spend refunded exactly once."""
    return _end_refunded(
        rows=Generation.objects.filter(status__in=list(from_statuses)),
        generation_id=generation_id,
        note="Refund: generation canceled",
        status=Status.CANCELED,
        stage="canceled",
        finished_at=timezone.now(),
    )


def generation_cancel(*, generation: Generation) -> Generation:
    """Cancel a queued job at once; ask a running one to stop at its next step.

    A storyboard is canceled at once either way: its pending scenes and assembly never start,
    a running scene stops at its next progress write, and what was not produced is refunded.
    """
    from_statuses = [Status.QUEUED]
    if generation.kind == Generation.Kind.STORYBOARD:
        from_statuses.append(Status.RUNNING)
    if generation_mark_canceled(generation_id=generation.pk, from_statuses=from_statuses):
        generation.refresh_from_db()
        return generation
    if Generation.objects.filter(pk=generation.pk, status=Status.RUNNING).update(
        cancel_requested=True, updated_at=timezone.now()
    ):
        from .progress import cancel_flag_raise

        # The reporter notices the flag before its next row write; only once this is committed.
        transaction.on_commit(lambda: cancel_flag_raise(generation.pk))
        generation.refresh_from_db()
        return generation
    generation.refresh_from_db()
    raise GenerationNotCancelable(f"This generation has already {generation.status}.")


def generation_reap_lost(*, now=None) -> int:
    """Fail (and refund) running jobs whose worker stopped sending heartbeats."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.GENERATION_HEARTBEAT_TIMEOUT)
    # A storyboard whose next scene or assembly waits in the broker is not lost, only queued.
    waiting = Q(kind=Generation.Kind.STORYBOARD) & (
        Q(stage=ASSEMBLY_QUEUED)
        | Exists(
            StoryboardScene.objects.filter(
                generation_id=OuterRef("pk"), status=StoryboardScene.Status.QUEUED
            )
        )
    )
    stale = Generation.objects.filter(status=Status.RUNNING, heartbeat_at__lt=cutoff).exclude(
        waiting
    )
    lost = list(stale.values_list("pk", flat=True))
    reaped = 0
    for generation_id in lost:
        reaped += _end_refunded(
            rows=stale,
            generation_id=generation_id,
            note="Refund: worker lost",
            status=Status.FAILED,
            stage="failed",
            error="The worker running this job stopped responding; your credits were refunded.",
            finished_at=now,
            updated_at=now,
        )
    if reaped:
        logger.warning("Reaped %d lost generation(s)", reaped)
    return reaped
