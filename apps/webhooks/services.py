"""Writes for outgoing webhooks: the user's secret, a job's deliveries, and one attempt at one.

A job's events reach here through the generation app's signals (receivers.py). An event the
job's `webhook_events_filter` names becomes a WebhookDelivery with the Generation JSON of that
moment (the API's GenerationOutputSerializer), and the `webhooks.deliver` task is sent once the
row commits. The task calls `webhook_attempt` until the receiver answers 2xx, the delivery is
refused, or the retries run out (tasks.py holds the schedule).

Each attempt checks the URL again and connects to the address it checked (apps.core.urls_safety),
signs the body the Standard Webhooks way with the owner's secret as it is then (a rotation
takes effect at the next attempt), POSTs it without following redirects, and records itself.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

import httpx
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder
from standardwebhooks import Webhook

from apps.core.redis import install_key_prefix, redis_client
from apps.core.urls_safety import UnsafeURL, url_check_public, url_pin_public
from apps.generation.dispatch import task_send
from apps.generation.models import Generation
from apps.generation.serializers import GenerationOutputSerializer

from .models import WebhookAttempt, WebhookDelivery, WebhookSecret

logger = logging.getLogger(__name__)
Event = WebhookDelivery.Event
DELIVER_TASK = "webhooks.deliver"
DELIVER_QUEUE = "default"
PROGRESS_INTERVAL_MS = 1000  # at most one progress delivery per second per job
USER_AGENT = "AI-Lounge-Webhooks/1.0"
Outcome = Literal["succeeded", "retry", "failed", "skipped"]


# --- the secret -------------------------------------------------------------------------------


def _new_key() -> str:
    """`whsec_` + base64 of 24 random bytes: the form standardwebhooks.Webhook reads."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def webhook_secret_get_or_create(*, user) -> WebhookSecret:
    """The user's signing secret, made on first use."""
    secret = WebhookSecret.objects.filter(user=user).first()
    if secret is not None:
        return secret
    try:
        with transaction.atomic():
            return WebhookSecret.objects.create(user=user, key=_new_key())
    except IntegrityError:  # made meanwhile by a parallel request
        return WebhookSecret.objects.get(user=user)


def webhook_secret_rotate(*, user) -> WebhookSecret:
    """A new secret; the old one signs nothing from now on (attempts read it when they run)."""
    secret, created = WebhookSecret.objects.get_or_create(user=user, defaults={"key": _new_key()})
    if not created:
        secret.key = _new_key()
        secret.save(update_fields=["key", "updated_at"])
    return secret


# --- a job's events ---------------------------------------------------------------------------


# Module-level name, so a test can point this module at a Redis that is down.
_redis = redis_client


def _progress_due(*, generation_id) -> bool:
    """Whether a progress delivery may go now: one per PROGRESS_INTERVAL_MS per job, by a Redis
    key under the install's prefix; without Redis, by the time of the job's last one."""
    try:
        return bool(
            _redis().set(
                f"{install_key_prefix('webhook-progress')}{generation_id}",
                1,
                nx=True,
                px=PROGRESS_INTERVAL_MS,
            )
        )
    except Exception:
        since = timezone.now() - timedelta(milliseconds=PROGRESS_INTERVAL_MS)
        return not WebhookDelivery.objects.filter(
            generation_id=generation_id, event=Event.PROGRESS, created_at__gte=since
        ).exists()


def _body(generation: Generation) -> dict:
    """The Generation JSON as the API shows it (without a request: media URLs are paths)."""
    data = GenerationOutputSerializer(generation).data
    return json.loads(json.dumps(data, cls=JSONEncoder))


def webhook_event_record(*, generation: Generation, event: str) -> WebhookDelivery | None:
    """A job's event: when its webhook wants it (and, for progress, one is due), write its
    delivery and send the task once that commits. Never raises: a webhook must not break the
    job it reports on (inside the job's transaction, a savepoint keeps its failure apart)."""
    if not generation.webhook or event not in (generation.webhook_events_filter or []):
        return None
    try:
        if event == Event.PROGRESS and not _progress_due(generation_id=generation.pk):
            return None
        with transaction.atomic():
            last = WebhookDelivery.objects.filter(generation_id=generation.pk, event=event)
            sequence = (last.aggregate(n=Max("sequence"))["n"] or 0) + 1
            delivery = WebhookDelivery.objects.create(
                generation_id=generation.pk,
                event=event,
                sequence=sequence,
                url=generation.webhook,
                body=_body(generation),
            )
        transaction.on_commit(lambda: _send(delivery.pk))
        return delivery
    except Exception:
        logger.exception("Could not record the %s webhook of %s", event, generation.pk)
        return None


def _send(delivery_id) -> None:
    try:
        task_send(DELIVER_TASK, str(delivery_id), queue=DELIVER_QUEUE)
    except Exception:
        logger.exception("Could not enqueue webhook delivery %s", delivery_id)


# --- one attempt ------------------------------------------------------------------------------


def webhook_signed_headers(*, key: str, message_id: str, payload: str, now=None) -> dict:
    """The Standard Webhooks headers for `payload` (the exact text that is sent)."""
    now = now or datetime.now(tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(key).sign(msg_id=message_id, timestamp=now, data=payload),
    }


def _post(url: str, *, payload: str, headers: dict, pinned=None) -> httpx.Response:
    """POST the delivery. With `pinned` (a checked public address) the connection goes to that
    address, with the URL's host in the Host header and as the TLS name, so a name that
    resolves elsewhere by the time of the call (DNS rebinding) cannot redirect it."""
    timeout = settings.WEBHOOK_TIMEOUT_SECONDS
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    extensions = {}
    if pinned is not None:
        url, headers["Host"] = pinned.url, pinned.host
        extensions["sni_hostname"] = pinned.sni_hostname
    with httpx.Client(
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
        trust_env=False,  # no proxy from the environment: the address checked is the one called
    ) as client:
        return client.post(url, content=payload.encode(), headers=headers, extensions=extensions)


def _retryable(status_code: int) -> bool:
    return status_code in (408, 425, 429) or status_code >= 500


def webhook_attempt(*, delivery_id, last: bool = False) -> Outcome:
    """Make the next attempt at a pending delivery and record it.

    "succeeded": a 2xx; "failed": refused for good (an unsafe address, a redirect, a 4xx other
    than 408/425/429) or, when `last`, any error; "retry": an error or timeout worth another try;
    "skipped": the delivery is no longer pending (a duplicate message)."""
    delivery = WebhookDelivery.objects.select_related("generation").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "skipped"
    number = delivery.attempts + 1
    status_code, error, outcome = None, "", "failed"
    pinned = None
    try:
        if settings.WEBHOOK_ALLOW_PRIVATE:
            url_check_public(delivery.url, allow_private=True)
        else:
            pinned = url_pin_public(delivery.url)
    except UnsafeURL as exc:
        error = f"Refused: {exc.message}"
    else:
        payload = json.dumps(delivery.body, separators=(",", ":"), ensure_ascii=False)
        key = webhook_secret_get_or_create(user=delivery.generation.user).key
        headers = webhook_signed_headers(key=key, message_id=delivery.message_id, payload=payload)
        try:
            response = _post(delivery.url, payload=payload, headers=headers, pinned=pinned)
        except httpx.TimeoutException as exc:
            error, outcome = f"Timed out: {exc.__class__.__name__}", "retry"
        except httpx.HTTPError as exc:
            error, outcome = f"Could not connect: {exc}"[:1000], "retry"
        else:
            status_code = response.status_code
            if 200 <= status_code < 300:
                outcome = "succeeded"
            elif 300 <= status_code < 400:
                error = "Redirects are not followed; give the final URL."
            elif _retryable(status_code):
                outcome = "retry"
    if outcome == "retry" and last:
        outcome = "failed"
        error = f"{error} (no retries left)".strip() if error else "No retries left."
    now = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            attempt=number,
            status_code=status_code,
            succeeded=outcome == "succeeded",
            error=error,
        )
        ended = {"status": outcome, "finished_at": now} if outcome != "retry" else {}
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING, attempts=delivery.attempts
        ).update(attempts=number, updated_at=now, **ended)
    return outcome
