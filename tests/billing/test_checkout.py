"""Credit packs and Stripe Checkout: the packs list, starting a checkout, running without keys."""

import uuid

import pytest

from apps.billing.models import CreditPack, Purchase

pytestmark = pytest.mark.django_db

PACK_FIELDS = {"id", "name", "credits", "price_cents", "currency"}


def test_migration_seeds_default_packs():
    seeded = {(p.name, p.credits, p.price_cents, p.currency) for p in CreditPack.objects.all()}
    assert {
        ("Starter", 100, 500, "usd"),
        ("Creator", 500, 2000, "usd"),
        ("Studio", 2000, 6000, "usd"),
    } <= seeded


def test_packs_list_shows_active_packs_only(api):
    hidden = CreditPack.objects.create(name="Old", credits=1, price_cents=100, active=False)
    response = api.get("/api/v1/billing/packs/")
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body, list) and body
    assert all(set(item) == PACK_FIELDS for item in body)
    assert str(hidden.pk) not in {item["id"] for item in body}
    active = CreditPack.objects.filter(active=True).order_by("sort_order", "price_cents", "id")
    assert [item["id"] for item in body] == [str(p.pk) for p in active]


def test_packs_list_needs_authentication(client):
    assert client.get("/api/v1/billing/packs/").status_code == 401


def test_checkout_creates_a_stripe_session_and_a_pending_purchase(api, user, pack, stripe_on):
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")

    assert response.status_code == 201, response.json()
    purchase = Purchase.objects.get()
    session = stripe_on.sessions[purchase.stripe_session_id]
    assert response.json() == {"checkout_url": session["url"]}
    assert purchase.user == user and purchase.status == "pending"
    assert (purchase.credits, purchase.amount_cents, purchase.currency) == (500, 2000, "usd")

    sent = stripe_on.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/checkout/sessions")
    assert sent.headers["authorization"] == "Bearer sk_test_ailounge"
    assert sent.headers["idempotency-key"] == f"purchase-{purchase.pk}"
    params = sent.params
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(purchase.pk)
    assert params["metadata"]["purchase_id"] == str(purchase.pk)
    assert params["payment_intent_data"]["metadata"]["purchase_id"] == str(purchase.pk)
    assert params["customer_email"] == user.email
    item = params["line_items"][0]
    assert item["quantity"] == "1"
    assert item["price_data"]["currency"] == "usd"
    assert item["price_data"]["unit_amount"] == "2000"
    assert "500 credits" in item["price_data"]["product_data"]["name"]
    assert params["success_url"] == (
        "http://testserver/credits/success/?session_id={CHECKOUT_SESSION_ID}"
    )
    assert params["cancel_url"] == "http://testserver/credits/cancel/"
    assert session["amount_total"] == 2000 and session["payment_status"] == "unpaid"


def test_checkout_uses_the_packs_stripe_price_when_set(api, pack, stripe_on):
    pack.stripe_price_id = stripe_on.add_price(unit_amount=2000)
    pack.save()
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")
    assert response.status_code == 201, response.json()
    item = stripe_on.requests[-1].params["line_items"][0]
    assert item == {"price": pack.stripe_price_id, "quantity": "1"}


def test_checkout_without_stripe_keys_is_503_and_writes_nothing(api, pack, stripe_off):
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "billing_unavailable"
    assert body["detail"].startswith("Buying credits is not available on this server")
    assert not Purchase.objects.exists()


@pytest.mark.parametrize("which", ["unknown", "inactive", "not-a-uuid", "missing"])
def test_checkout_refuses_unknown_or_inactive_packs(api, pack, stripe_on, which):
    pack.active = which != "inactive"
    pack.save()
    body = {
        "unknown": {"pack": str(uuid.uuid4())},
        "inactive": {"pack": str(pack.pk)},
        "not-a-uuid": {"pack": "12"},
        "missing": {},
    }[which]
    response = api.post("/api/v1/billing/checkout/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("pack_unavailable", "invalid")
    assert not Purchase.objects.exists()
    assert not stripe_on.requests


def test_checkout_when_stripe_fails_is_502_and_the_purchase_is_marked_failed(api, pack, stripe_on):
    stripe_on.fail_next(status=400, message="Your account cannot currently make live charges.")
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")
    assert response.status_code == 502
    assert response.json()["code"] == "payment_provider_error"
    purchase = Purchase.objects.get()
    assert purchase.status == "failed" and purchase.stripe_session_id is None
    assert "live charges" in purchase.error


def test_checkout_needs_authentication(client, pack, stripe_on):
    response = client.post(
        "/api/v1/billing/checkout/", {"pack": str(pack.pk)}, content_type="application/json"
    )
    assert response.status_code == 401
    assert not Purchase.objects.exists()
