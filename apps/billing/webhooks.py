"""`POST /billing/stripe/webhook/`: Stripe events, verified by stripe's own `verify_header`.

A forged, stale (signed more than 300 s ago), future-dated (more than 300 s ahead), unsigned or
unparsable request is a 400 and changes nothing. A signed payload that is JSON but not a
well-formed event (an id or type that is not a short string, nesting too deep) is logged and
acknowledged with 200, and changes nothing: Stripe would otherwise retry it for days.
A verified event is applied at most once (`stripe_event_apply` records its id in the same
transaction as the effect) and answered 200 — also when it is of no use to us, or names a
purchase we do not know: a business reason never makes Stripe retry. Only an infrastructure
failure (the database is down) is a 500, which Stripe retries later, as it should.

Handlers are `handle_<event type>` functions in `HANDLERS`; each reads the event's object and
calls one service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError

from . import stripe_api
from .models import Purchase
from .services import (
    purchase_checkout_closed,
    purchase_checkout_completed,
    purchase_record_dispute_lost,
    purchase_record_refund,
    stripe_event_apply,
)

logger = logging.getLogger(__name__)
StripeObject = dict[str, Any]


def _id(value: Any) -> str:
    """An id field that may arrive as a string or, when expanded, as an object."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _purchase_hint(obj: StripeObject) -> str:
    metadata = obj.get("metadata") or {}
    return obj.get("client_reference_id") or metadata.get("purchase_id") or ""


def handle_checkout_session_completed(session: StripeObject) -> str:
    return purchase_checkout_completed(
        session_id=session["id"],
        paid=session.get("payment_status") == "paid",
        payment_intent=_id(session.get("payment_intent")),
        purchase_id=_purchase_hint(session),
    )


def handle_checkout_session_async_payment_succeeded(session: StripeObject) -> str:
    return purchase_checkout_completed(
        session_id=session["id"],
        paid=True,
        payment_intent=_id(session.get("payment_intent")),
        purchase_id=_purchase_hint(session),
    )


def handle_checkout_session_async_payment_failed(session: StripeObject) -> str:
    return purchase_checkout_closed(
        session_id=session["id"],
        status=Purchase.Status.FAILED,
        reason="The delayed payment failed.",
    )


def handle_checkout_session_expired(session: StripeObject) -> str:
    return purchase_checkout_closed(
        session_id=session["id"],
        status=Purchase.Status.EXPIRED,
        reason="The checkout session expired unpaid.",
    )


def handle_charge_refunded(charge: StripeObject) -> str:
    return purchase_record_refund(
        payment_intent=_id(charge.get("payment_intent")),
        amount_refunded_cents=int(charge["amount_refunded"]),
        charge_amount_cents=int(charge.get("amount") or 0) or None,
        purchase_id=_purchase_hint(charge),
    )


def handle_charge_dispute_closed(dispute: StripeObject) -> str:
    if dispute.get("status") != "lost":
        return f"ignored: dispute {dispute.get('status')}"
    return purchase_record_dispute_lost(
        payment_intent=_id(dispute.get("payment_intent")),
        dispute_id=dispute["id"],
        amount_cents=int(dispute["amount"]),
    )


HANDLERS: dict[str, Callable[[StripeObject], str]] = {
    "checkout.session.completed": handle_checkout_session_completed,
    "checkout.session.async_payment_succeeded": handle_checkout_session_async_payment_succeeded,
    "checkout.session.async_payment_failed": handle_checkout_session_async_payment_failed,
    "checkout.session.expired": handle_checkout_session_expired,
    "charge.refunded": handle_charge_refunded,
    "charge.dispute.closed": handle_charge_dispute_closed,
}
# The events to enable on the Stripe endpoint (docs/billing.md lists them too).
EVENT_TYPES = tuple(HANDLERS)


def _error(status: int, detail: str, code: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def _dispatch(event: dict[str, Any]) -> str:
    handler = HANDLERS.get(event["type"])
    if handler is None:
        return "ignored: unhandled type"
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        return "ignored: no object"
    try:
        return handler(obj)
    except ApplicationError as exc:
        logger.warning("Stripe event %s not applied: %s", event["id"], exc.message)
        return f"ignored: {exc.code}"
    except (KeyError, TypeError, ValueError):
        logger.exception("Stripe event %s (%s) is malformed", event["id"], event["type"])
        return "ignored: malformed"


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    if not settings.STRIPE_WEBHOOK_SECRET:
        logger.error("A Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set")
        return _error(
            503, "Stripe webhooks are not configured on this server.", "billing_unavailable"
        )
    try:
        event = stripe_api.webhook_event_construct(
            payload=request.body, sig_header=request.headers.get("Stripe-Signature")
        )
    except stripe_api.SignatureVerificationError as exc:
        logger.warning("Refused a Stripe webhook: %s", exc.user_message or exc)
        return _error(
            400, "The Stripe signature is missing, invalid or too old.", "invalid_signature"
        )
    except stripe_api.MalformedEvent as exc:
        logger.warning("Ignored a signed but malformed Stripe event: %s", exc)
        return JsonResponse({"received": True, "outcome": "ignored: malformed event"})
    except ValueError:
        return _error(400, "The payload is not a Stripe event.", "invalid_payload")
    outcome = stripe_event_apply(
        event_id=event["id"], event_type=event["type"], apply=lambda: _dispatch(event)
    )
    logger.info("Stripe event %s (%s): %s", event["id"], event["type"], outcome)
    return JsonResponse({"received": True, "outcome": outcome})
