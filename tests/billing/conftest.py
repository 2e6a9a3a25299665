"""Billing fixtures: the local Stripe stand-in, Stripe settings, signed webhook deliveries."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from apps.billing.models import CreditPack
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_adjust
from apps.generation import services as generation_services
from tests.fakes.stripe_server import FakeStripe, StripeServer

WEBHOOK_SECRET = "whsec_test_ailounge_webhook_secret"
SECRET_KEY = "sk_test_ailounge"
WEBHOOK_URL = "/billing/stripe/webhook/"

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: row locks and concurrent connections (set DATABASE_URL to run it)",
)


@pytest.fixture
def stripe_server(monkeypatch):
    """A local HTTP server answering like Stripe's API; stopped when the test ends."""
    # A proxy configured in the environment must not swallow calls to 127.0.0.1.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = StripeServer().start()
    try:
        yield server.fake
    finally:
        server.stop()


@pytest.fixture
def stripe_on(settings, stripe_server) -> FakeStripe:
    """Stripe configured, with the official client pointed at the local stand-in."""
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_API_BASE = stripe_server.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return stripe_server


@pytest.fixture
def stripe_off(settings):
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_API_BASE = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


@pytest.fixture
def webhook_secret(settings) -> str:
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture
def pack(db) -> CreditPack:
    return CreditPack.objects.create(name="Test pack", credits=500, price_cents=2000)


@pytest.fixture
def no_enqueue(monkeypatch):
    """Generations are created but never sent to Celery; the ids are recorded."""
    sent = []
    monkeypatch.setattr(
        generation_services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def deliver(client, payload: str, *, secret: str = WEBHOOK_SECRET, timestamp=None, header=True):
    """POST a webhook as Stripe does: raw JSON body and a `Stripe-Signature` header."""
    extra = {}
    if header:
        extra["HTTP_STRIPE_SIGNATURE"] = FakeStripe.signature(payload, secret, timestamp=timestamp)
    return client.post(WEBHOOK_URL, data=payload, content_type="application/json", **extra)


def set_balance(user, balance: int) -> None:
    """Move a user's balance to exactly `balance` with a staff-style adjustment."""
    delta = balance - credits_balance(user=user)
    if delta:
        credits_adjust(
            user=user,
            amount=delta,
            note="test set-up",
            created_by=None,
            reference=f"test:{uuid.uuid4()}",
        )
    assert credits_balance(user=user) == balance
