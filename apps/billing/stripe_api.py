"""Every call into the Stripe SDK goes through this module (and nothing else imports `stripe`).

The official client is pointed at `STRIPE_API_BASE` when that is set (tests run a local stand-in
that answers like Stripe's API); otherwise it talks to api.stripe.com with `STRIPE_SECRET_KEY`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings

from apps.core.parsers import JSONRefused, json_loads

WEBHOOK_TOLERANCE_SECONDS = 300
REQUEST_TIMEOUT_SECONDS = 30

StripeError = stripe.StripeError
SignatureVerificationError = stripe.SignatureVerificationError


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def _client() -> stripe.StripeClient:
    base_addresses = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base_addresses,
        max_network_retries=2,
        http_client=stripe.RequestsClient(timeout=REQUEST_TIMEOUT_SECONDS),
    )


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    payment_status: str
    status: str
    payment_intent: str


def _session(obj: Any) -> CheckoutSession:
    if not isinstance(obj, dict):
        obj = obj.to_dict()
    payment_intent = obj.get("payment_intent") or ""
    if not isinstance(payment_intent, str):  # expanded into an object
        payment_intent = payment_intent.get("id", "")
    return CheckoutSession(
        id=obj["id"],
        url=obj.get("url") or "",
        payment_status=obj.get("payment_status") or "",
        status=obj.get("status") or "",
        payment_intent=payment_intent,
    )


def checkout_session_create(
    *,
    purchase_id: str,
    user_id: int,
    customer_email: str,
    pack_name: str,
    credits: int,
    amount_cents: int,
    currency: str,
    stripe_price_id: str,
    success_url: str,
    cancel_url: str,
) -> CheckoutSession:
    """Create a Checkout Session (mode=payment) for one pack. Raises StripeError."""
    if stripe_price_id:
        line_item: dict[str, Any] = {"price": stripe_price_id, "quantity": 1}
    else:
        line_item = {
            "price_data": {
                "currency": currency,
                "unit_amount": amount_cents,
                "product_data": {"name": f"{pack_name} — {credits} credits"},
            },
            "quantity": 1,
        }
    metadata = {"purchase_id": purchase_id, "user_id": str(user_id)}
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [line_item],
        "client_reference_id": purchase_id,
        "metadata": metadata,
        # Copied by Stripe onto the charge, so a refund that arrives before the session's
        # completion event can still be matched to the purchase.
        "payment_intent_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_email:
        params["customer_email"] = customer_email
    session = _client().v1.checkout.sessions.create(
        params=params,  # type: ignore[arg-type]
        options={"idempotency_key": f"purchase-{purchase_id}"},
    )
    return _session(session)


def checkout_session_retrieve(*, session_id: str) -> CheckoutSession:
    """Read a Checkout Session back from Stripe. Raises StripeError."""
    return _session(_client().v1.checkout.sessions.retrieve(session_id))


class MalformedEvent(ValueError):
    """A payload with a valid signature that is not a well-formed event (acknowledged, ignored)."""


EVENT_ID_MAX = 255  # StripeEvent.event_id
EVENT_TYPE_MAX = 100  # StripeEvent.type


def _signed_at(sig_header: str) -> int:
    """The `t=` of a header that stripe has verified (parsed as stripe parses it)."""
    items = [item.split("=", 2) for item in sig_header.split(",")]
    return int([item[1] for item in items if item[0] == "t"][0])


def webhook_event_construct(*, payload: bytes, sig_header: str | None) -> dict[str, Any]:
    """Verify a webhook's signature and age with stripe's own code; return the event as a dict.

    Raises SignatureVerificationError (forged, missing, signed more than the tolerance ago or
    ahead of now: stripe checks only the past), ValueError (not JSON), or MalformedEvent (signed
    JSON that is not an event with a string `id` and `type` that fit our columns, nested too
    deep, or holding a NUL).
    """
    stripe.WebhookSignature.verify_header(
        payload, sig_header, settings.STRIPE_WEBHOOK_SECRET, tolerance=WEBHOOK_TOLERANCE_SECONDS
    )
    signed_at = _signed_at(sig_header or "")
    if signed_at > time.time() + WEBHOOK_TOLERANCE_SECONDS:
        raise SignatureVerificationError(
            f"Timestamp in the future, outside the tolerance zone ({signed_at})",
            sig_header,
            payload,
        )
    try:
        event = json_loads(payload)
    except JSONRefused as exc:
        raise MalformedEvent(str(exc)) from None
    if not isinstance(event, dict):
        raise MalformedEvent("the payload is not a JSON object.")
    event_id, event_type = event.get("id"), event.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
        raise MalformedEvent(f"the id is not a string of 1 to {EVENT_ID_MAX} characters.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= EVENT_TYPE_MAX:
        raise MalformedEvent(f"the type is not a string of 1 to {EVENT_TYPE_MAX} characters.")
    return event
