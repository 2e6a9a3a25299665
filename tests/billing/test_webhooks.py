"""Stripe webhooks: signature checks, exactly-once credit, refunds, disputes and debt.

Payloads are signed with the test secret exactly as Stripe signs them, so stripe's own
`verify_header` verifies every request. Sessions come from the local Stripe stand-in.
"""

import json
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from apps.billing.models import LedgerEntry, Purchase, StripeEvent
from apps.billing.selectors import credits_account, credits_balance
from apps.billing.services import purchase_checkout_start
from apps.generation.models import Generation
from tests.billing.conftest import WEBHOOK_SECRET, deliver, requires_postgres, set_balance
from tests.factories import UserFactory

T2V = {"kind": "text_to_video", "prompt": "a neon city", "params": {"num_frames": 8}}


def start_purchase(user, pack) -> Purchase:
    return purchase_checkout_start(
        user=user,
        pack_id=pack.pk,
        success_url="http://testserver/credits/success/?session_id={CHECKOUT_SESSION_ID}",
        cancel_url="http://testserver/credits/cancel/",
    )


def paid_event(fake, purchase, event_type="checkout.session.completed", **kw) -> str:
    session = fake.complete(purchase.stripe_session_id)
    return fake.event(event_type, session, **kw)


def purchase_entries(purchase):
    return LedgerEntry.objects.filter(
        kind="purchase", reference=f"stripe:{purchase.stripe_session_id}"
    )


def assert_ledger_consistent(user):
    account = credits_account(user=user)
    total = sum(LedgerEntry.objects.filter(account__user=user).values_list("amount", flat=True))
    assert account.balance == total >= 0
    assert account.debt >= 0


# --- signatures ---------------------------------------------------------------------------------


@pytest.mark.django_db
class TestSignature:
    def test_forged_signature_is_400_and_changes_nothing(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        payload = paid_event(stripe_on, purchase)
        response = deliver(client, payload, secret="whsec_someone_else")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert credits_balance(user=user) == before
        assert not StripeEvent.objects.exists()
        assert Purchase.objects.get().status == "pending"

    def test_tampered_payload_is_400(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        payload = paid_event(stripe_on, purchase)
        signature = stripe_on.signature(payload, WEBHOOK_SECRET)
        tampered = payload.replace('"paid"', '"paid" ')
        response = client.post(
            "/billing/stripe/webhook/",
            data=tampered,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=signature,
        )
        assert response.status_code == 400
        assert not StripeEvent.objects.exists()

    def test_stale_signature_older_than_300_seconds_is_400(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        payload = paid_event(stripe_on, purchase)
        response = deliver(client, payload, timestamp=int(time.time()) - 301)
        assert response.status_code == 400
        assert credits_balance(user=user) == before
        assert not StripeEvent.objects.exists()

    def test_missing_signature_header_is_400(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        response = deliver(client, paid_event(stripe_on, purchase), header=False)
        assert response.status_code == 400
        assert credits_balance(user=user) == before
        assert not StripeEvent.objects.exists()

    def test_signed_garbage_is_400(self, client, webhook_secret):
        response = deliver(client, "not json at all")
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_payload"

    def test_signature_dated_an_hour_ahead_is_400_and_credits_nothing(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        response = deliver(
            client, paid_event(stripe_on, purchase), timestamp=int(time.time()) + 3600
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_signature"
        assert credits_balance(user=user) == before
        assert not StripeEvent.objects.exists()
        assert Purchase.objects.get().status == "pending"

    def test_signature_dated_301_seconds_ahead_is_400(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        response = deliver(
            client, paid_event(stripe_on, purchase), timestamp=int(time.time()) + 301
        )
        assert response.status_code == 400
        assert not StripeEvent.objects.exists()

    def test_signature_within_the_tolerance_either_side_is_applied(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        payload = paid_event(stripe_on, purchase)
        response = deliver(client, payload, timestamp=int(time.time()) + 240)
        assert response.status_code == 200
        assert credits_balance(user=user) == before + pack.credits
        second = start_purchase(user, pack)
        response = deliver(client, paid_event(stripe_on, second), timestamp=int(time.time()) - 240)
        assert response.status_code == 200
        assert credits_balance(user=user) == before + 2 * pack.credits

    @pytest.mark.parametrize(
        "event",
        [
            pytest.param(
                {"id": "evt_list_type", "type": ["checkout.session.completed"]}, id="type-list"
            ),
            pytest.param(
                {"id": "evt_" + "x" * 300, "type": "checkout.session.completed"}, id="id-300-chars"
            ),
            pytest.param({"id": 12345, "type": "checkout.session.completed"}, id="id-number"),
            pytest.param({"id": "", "type": "checkout.session.completed"}, id="id-empty"),
            pytest.param({"id": "evt_long_type", "type": "t" * 101}, id="type-101-chars"),
            pytest.param({"id": "evt_no_type"}, id="no-type"),
            pytest.param(["evt_1", "checkout.session.completed"], id="a-list"),
            pytest.param({"id": "evt_nul", "type": "checkout.session.completed\u0000"}, id="nul"),
        ],
    )
    def test_signed_malformed_event_is_acknowledged_and_ignored(
        self, client, user, pack, stripe_on, event, caplog
    ):
        purchase = start_purchase(user, pack)
        session = stripe_on.complete(purchase.stripe_session_id)
        if isinstance(event, dict):
            event = {
                **event,
                "data": {"object": {k: v for k, v in session.items() if not k.startswith("_")}},
            }
        before = credits_balance(user=user)
        with caplog.at_level("WARNING", logger="apps.billing.webhooks"):
            response = deliver(client, json.dumps(event))
        assert response.status_code == 200
        assert response.json() == {"received": True, "outcome": "ignored: malformed event"}
        assert "malformed" in caplog.text
        assert credits_balance(user=user) == before
        assert not StripeEvent.objects.exists()
        assert Purchase.objects.get().status == "pending"

    def test_signed_event_nested_too_deep_is_acknowledged_and_ignored(self, client, webhook_secret):
        payload = (
            '{"id": "evt_deep", "type": "charge.refunded", "data": ' + "[" * 3000 + "]" * 3000 + "}"
        )
        response = deliver(client, payload)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: malformed event"
        assert not StripeEvent.objects.exists()

    def test_signed_event_whose_data_is_not_an_object_is_acknowledged(self, client, webhook_secret):
        payload = json.dumps({"id": "evt_data_list", "type": "charge.refunded", "data": [1, 2]})
        response = deliver(client, payload)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: no object"

    def test_without_a_webhook_secret_the_endpoint_is_unavailable(self, client, stripe_off):
        response = deliver(client, json.dumps({"id": "evt_1", "type": "ping"}))
        assert response.status_code == 503
        assert response.json()["code"] == "billing_unavailable"

    def test_get_is_not_allowed(self, client, webhook_secret):
        assert client.get("/billing/stripe/webhook/").status_code == 405

    def test_unhandled_event_types_are_acknowledged(self, client, webhook_secret):
        payload = json.dumps(
            {"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}
        )
        response = deliver(client, payload)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: unhandled type"


# --- credit exactly once ------------------------------------------------------------------------


@pytest.mark.django_db
class TestCredit:
    def test_paid_session_credits_the_pack_once(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        payload = paid_event(stripe_on, purchase)

        first = deliver(client, payload)
        again = deliver(client, payload)

        assert first.status_code == 200 and first.json()["outcome"] == "credited"
        assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
        assert credits_balance(user=user) == before + 500
        purchase.refresh_from_db()
        assert purchase.status == "paid" and purchase.paid_at is not None
        assert purchase.stripe_payment_intent_id.startswith("pi_")
        assert purchase_entries(purchase).get().amount == 500
        assert StripeEvent.objects.count() == 1
        assert_ledger_consistent(user)

    def test_unpaid_completed_session_credits_nothing_until_the_payment_succeeds(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        session = stripe_on.complete(purchase.stripe_session_id, payment_status="unpaid")

        response = deliver(client, stripe_on.event("checkout.session.completed", session))

        assert response.status_code == 200
        assert response.json()["outcome"] == "waiting for payment"
        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "pending"
        assert purchase.stripe_payment_intent_id == session["payment_intent"]

        session = stripe_on.complete(purchase.stripe_session_id, payment_status="paid")
        deliver(client, stripe_on.event("checkout.session.async_payment_succeeded", session))
        assert credits_balance(user=user) == before + 500

    def test_the_same_session_in_two_different_events_is_credited_once(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        session = stripe_on.complete(purchase.stripe_session_id)
        # Out of order on purpose: the async success arrives before the completion.
        events = [
            stripe_on.event("checkout.session.async_payment_succeeded", session),
            stripe_on.event("checkout.session.completed", session),
        ]
        outcomes = [deliver(client, payload).json()["outcome"] for payload in events]
        assert outcomes == ["credited", "already credited"]
        assert credits_balance(user=user) == before + 500
        assert purchase_entries(purchase).count() == 1
        assert StripeEvent.objects.count() == 2

    def test_the_amount_comes_from_the_purchase_record_never_from_the_event(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        session = stripe_on.complete(purchase.stripe_session_id)
        session["metadata"] = {**session["metadata"], "credits": "999999"}
        session["amount_total"] = 99999999
        deliver(client, stripe_on.event("checkout.session.completed", session))
        assert credits_balance(user=user) == before + 500

    def test_a_session_we_do_not_know_is_acknowledged_and_ignored(
        self, client, user, webhook_secret
    ):
        before = credits_balance(user=user)
        session = {
            "id": "cs_test_unknown",
            "object": "checkout.session",
            "payment_status": "paid",
            "client_reference_id": None,
            "metadata": {"user_id": str(user.pk)},
        }
        response = deliver(
            client,
            json.dumps(
                {"id": "evt_x", "type": "checkout.session.completed", "data": {"object": session}}
            ),
        )
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: unknown session"
        assert credits_balance(user=user) == before

    def test_malformed_event_object_is_acknowledged_not_a_500(self, client, webhook_secret):
        payload = json.dumps(
            {"id": "evt_bad", "type": "charge.refunded", "data": {"object": {"id": "ch_1"}}}
        )
        response = deliver(client, payload)
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: malformed"

    def test_expired_session_closes_the_pending_purchase(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        session = dict(stripe_on.sessions[purchase.stripe_session_id], status="expired")
        response = deliver(client, stripe_on.event("checkout.session.expired", session))
        assert response.json()["outcome"] == "marked expired"
        purchase.refresh_from_db()
        assert purchase.status == "expired"

    def test_async_payment_failure_marks_the_purchase_failed(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        session = stripe_on.complete(purchase.stripe_session_id, payment_status="unpaid")
        deliver(client, stripe_on.event("checkout.session.async_payment_failed", session))
        purchase.refresh_from_db()
        assert purchase.status == "failed"
        assert credits_balance(user=user) == before


# --- refunds, disputes, debt --------------------------------------------------------------------


@pytest.mark.django_db
class TestClawback:
    def test_full_refund_claws_the_credits_back(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        deliver(client, paid_event(stripe_on, purchase))
        charge = stripe_on.charge(purchase.stripe_session_id, amount_refunded=2000)

        response = deliver(client, stripe_on.event("charge.refunded", charge))

        assert response.json()["outcome"] == "clawed back"
        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "refunded"
        assert purchase.credits_clawed_back == 500
        clawback = LedgerEntry.objects.get(kind="clawback")
        assert clawback.amount == -500 and "refunded" in clawback.note
        assert_ledger_consistent(user)

    def test_partial_refunds_each_claw_once_by_the_cumulative_amount(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        deliver(client, paid_event(stripe_on, purchase))
        session_id = purchase.stripe_session_id
        quarter = stripe_on.event(
            "charge.refunded", stripe_on.charge(session_id, amount_refunded=500)
        )
        half = stripe_on.event(
            "charge.refunded", stripe_on.charge(session_id, amount_refunded=1000)
        )

        deliver(client, quarter)
        assert credits_balance(user=user) == before + 375
        deliver(client, quarter)  # redelivered
        deliver(client, half)
        assert credits_balance(user=user) == before + 250
        # The same cumulative amount in a new event (a different event id) claws nothing more.
        deliver(
            client,
            stripe_on.event("charge.refunded", stripe_on.charge(session_id, amount_refunded=1000)),
        )
        assert credits_balance(user=user) == before + 250

        purchase.refresh_from_db()
        assert purchase.status == "partially_refunded"
        assert (purchase.amount_refunded_cents, purchase.credits_clawed_back) == (1000, 250)
        amounts = sorted(
            LedgerEntry.objects.filter(kind="clawback").values_list("amount", flat=True)
        )
        assert amounts == [-125, -125]

        deliver(
            client,
            stripe_on.event("charge.refunded", stripe_on.charge(session_id, amount_refunded=2000)),
        )
        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "refunded" and purchase.credits_clawed_back == 500
        assert_ledger_consistent(user)

    def test_partial_refunds_delivered_out_of_order_claw_the_right_total(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        deliver(client, paid_event(stripe_on, purchase))
        session_id = purchase.stripe_session_id
        later = stripe_on.event(
            "charge.refunded", stripe_on.charge(session_id, amount_refunded=1200)
        )
        earlier = stripe_on.event(
            "charge.refunded", stripe_on.charge(session_id, amount_refunded=400)
        )
        assert deliver(client, later).json()["outcome"] == "clawed back"
        assert deliver(client, earlier).json()["outcome"] == "already recorded"
        assert credits_balance(user=user) == before + 500 - 300

    def test_refund_before_completion_is_applied_when_the_payment_is_credited(
        self, client, user, pack, stripe_on
    ):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        session = stripe_on.complete(purchase.stripe_session_id)
        # Stripe copied our payment_intent_data metadata onto the charge: that finds the purchase.
        refund = stripe_on.event(
            "charge.refunded", stripe_on.charge(purchase.stripe_session_id, amount_refunded=2000)
        )

        response = deliver(client, refund)

        assert response.json()["outcome"] == "recorded before payment"
        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "pending" and purchase.amount_refunded_cents == 2000

        deliver(client, stripe_on.event("checkout.session.completed", session))

        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "refunded"
        kinds = list(LedgerEntry.objects.filter(account__user=user).values_list("kind", "amount"))
        assert ("purchase", 500) in kinds and ("clawback", -500) in kinds
        assert credits_account(user=user).debt == 0
        assert_ledger_consistent(user)

    def test_refund_of_a_payment_we_do_not_know_is_ignored(self, client, user, webhook_secret):
        before = credits_balance(user=user)
        charge = {
            "id": "ch_unknown",
            "object": "charge",
            "amount": 2000,
            "amount_refunded": 2000,
            "payment_intent": "pi_unknown",
            "metadata": {},
        }
        response = deliver(
            client,
            json.dumps({"id": "evt_r", "type": "charge.refunded", "data": {"object": charge}}),
        )
        assert response.status_code == 200
        assert response.json()["outcome"] == "ignored: unknown payment"
        assert credits_balance(user=user) == before

    def test_refund_after_spending_records_debt_and_blocks_spending(
        self, client, api, user, pack, stripe_on, no_enqueue
    ):
        set_balance(user, 0)
        purchase = start_purchase(user, pack)
        deliver(client, paid_event(stripe_on, purchase))
        # Spend 450 of the 500 credits, leaving 50.
        set_balance(user, 50)
        charge = stripe_on.charge(purchase.stripe_session_id, amount_refunded=2000)

        response = deliver(client, stripe_on.event("charge.refunded", charge))

        assert response.status_code == 200
        account = credits_account(user=user)
        assert (account.balance, account.debt) == (0, 450)
        assert LedgerEntry.objects.get(kind="clawback").amount == -50
        assert_ledger_consistent(user)

        blocked = api.post("/api/v1/generations/", T2V, format="json")
        assert blocked.status_code == 402
        assert blocked.json()["code"] == "credits_blocked"
        assert not Generation.objects.exists()

        # Buying again settles the debt first.
        second = start_purchase(user, pack)
        deliver(client, paid_event(stripe_on, second))
        account = credits_account(user=user)
        assert (account.balance, account.debt) == (50, 0)
        assert api.post("/api/v1/generations/", T2V, format="json").status_code == 201
        assert_ledger_consistent(user)

    def test_lost_dispute_claws_back_and_a_won_one_does_not(self, client, user, pack, stripe_on):
        purchase = start_purchase(user, pack)
        before = credits_balance(user=user)
        deliver(client, paid_event(stripe_on, purchase))

        won = stripe_on.dispute(purchase.stripe_session_id, status="won")
        assert deliver(client, stripe_on.event("charge.dispute.closed", won)).json()["outcome"] == (
            "ignored: dispute won"
        )
        assert credits_balance(user=user) == before + 500

        lost = stripe_on.dispute(purchase.stripe_session_id, status="lost")
        deliver(client, stripe_on.event("charge.dispute.closed", lost))
        deliver(client, stripe_on.event("charge.dispute.closed", lost))  # a new event, same dispute

        assert credits_balance(user=user) == before
        purchase.refresh_from_db()
        assert purchase.status == "dispute_lost" and purchase.credits_clawed_back == 500
        assert LedgerEntry.objects.filter(kind="clawback").count() == 1
        assert_ledger_consistent(user)


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_20_times_at_once_credits_once(pack, stripe_on):
    user = UserFactory()
    purchase = start_purchase(user, pack)
    before = credits_balance(user=user)
    payload = paid_event(stripe_on, purchase)
    deliveries = 20
    barrier = threading.Barrier(deliveries)
    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def worker():
        try:
            barrier.wait()
            response = deliver(Client(), payload)
            results.append((response.status_code, response.json()["outcome"]))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert len(results) == deliveries
    assert all(status == 200 for status, _ in results)
    assert sorted(outcome for _, outcome in results) == ["credited"] + ["duplicate"] * 19
    assert credits_balance(user=user) == before + 500
    assert purchase_entries(purchase).count() == 1
    assert StripeEvent.objects.count() == 1
    assert_ledger_consistent(user)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_completion_and_async_success_racing_credit_once(pack, stripe_on):
    user = UserFactory()
    purchase = start_purchase(user, pack)
    before = credits_balance(user=user)
    session = stripe_on.complete(purchase.stripe_session_id)
    payloads = [
        stripe_on.event(kind, session)
        for kind in ["checkout.session.completed", "checkout.session.async_payment_succeeded"] * 5
    ]
    barrier = threading.Barrier(len(payloads))
    statuses: list[int] = []

    def worker(payload):
        try:
            barrier.wait()
            statuses.append(deliver(Client(), payload).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * len(payloads)
    assert credits_balance(user=user) == before + 500
    assert purchase_entries(purchase).count() == 1
    assert StripeEvent.objects.count() == len(payloads)
    assert_ledger_consistent(user)
