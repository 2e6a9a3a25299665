"""A hypothesis state machine over spends, refunds, purchases, clawbacks and adjustments.

It drives the real services (the same ones the API and the webhooks call) against a simple
model of the account, and after every step checks: balance == sum(entries) >= 0, the debt is
what the model says, and replays (the same spend refunded twice, the same session credited
twice, the same cumulative refund reported twice) change nothing.
"""

import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from apps.billing.exceptions import CreditsBlocked, InsufficientCredits
from apps.billing.models import CreditAccount, LedgerEntry, Purchase
from apps.billing.services import (
    credits_adjust,
    credits_refund_spend,
    credits_spend,
    purchase_checkout_completed,
    purchase_record_dispute_lost,
    purchase_record_refund,
)
from tests.factories import UserFactory


class LedgerMachine(RuleBasedStateMachine):
    @initialize(start=st.integers(0, 40))
    def open_account(self, start):
        self.user = UserFactory()
        account = CreditAccount.objects.get(user=self.user)
        if account.balance != start:
            credits_adjust(
                user=self.user,
                amount=start - account.balance,
                note="start",
                created_by=None,
                reference=f"test:{uuid.uuid4()}",
            )
        self.balance = start
        self.debt = 0
        self.spends: dict[str, int] = {}  # reference -> credits, not refunded yet
        self.purchases: list[dict] = []  # credited purchases

    # --- model helpers ----------------------------------------------------------------------

    def _credit_new_money(self, amount: int) -> None:
        settle = min(self.debt, amount)
        self.debt -= settle
        self.balance += amount - settle

    def _claw(self, due: int) -> None:
        take = min(self.balance, due)
        self.balance -= take
        self.debt += due - take

    # --- rules ------------------------------------------------------------------------------

    @rule(amount=st.integers(1, 60))
    def spend(self, amount):
        reference = f"generation:{uuid.uuid4()}"
        if self.debt > 0:
            with pytest.raises(CreditsBlocked):
                credits_spend(user=self.user, amount=amount, reference=reference)
        elif self.balance < amount:
            with pytest.raises(InsufficientCredits) as err:
                credits_spend(user=self.user, amount=amount, reference=reference)
            assert err.value.extra == {"required": amount, "balance": self.balance}
        else:
            entry = credits_spend(user=self.user, amount=amount, reference=reference)
            assert entry is not None and entry.amount == -amount
            # The same spend again writes nothing.
            assert credits_spend(user=self.user, amount=amount, reference=reference) is None
            self.balance -= amount
            self.spends[reference] = amount

    @precondition(lambda self: self.spends)
    @rule(data=st.data())
    def refund(self, data):
        # Insertion order, not sorted(): the references are random UUIDs, so a sorted pick would
        # refund a different spend when hypothesis replays the same choices.
        reference = data.draw(st.sampled_from(list(self.spends)))
        amount = self.spends.pop(reference)
        assert credits_refund_spend(spend_reference=reference, note="failed").amount == amount
        assert credits_refund_spend(spend_reference=reference, note="failed again") is None
        self.balance += amount

    @rule(credits=st.integers(1, 120), price=st.integers(50, 6000), replays=st.integers(1, 3))
    def purchase(self, credits, price, replays):
        purchase = Purchase.objects.create(
            user=self.user,
            credits=credits,
            amount_cents=price,
            currency="usd",
            stripe_session_id=f"cs_test_{uuid.uuid4().hex}",
        )
        intent = f"pi_{uuid.uuid4().hex}"
        outcomes = [
            purchase_checkout_completed(
                session_id=purchase.stripe_session_id, paid=True, payment_intent=intent
            )
            for _ in range(replays)
        ]
        assert outcomes == ["credited"] + ["already credited"] * (replays - 1)
        self._credit_new_money(credits)
        self.purchases.append(
            {"intent": intent, "credits": credits, "price": price, "refunded": 0, "clawed": 0}
        )

    @precondition(lambda self: any(p["refunded"] < p["price"] for p in self.purchases))
    @rule(data=st.data(), replays=st.integers(1, 2))
    def clawback(self, data, replays):
        open_ = [p for p in self.purchases if p["refunded"] < p["price"]]
        paid = data.draw(st.sampled_from(open_))
        cumulative = data.draw(st.integers(paid["refunded"] + 1, paid["price"]))
        for _ in range(replays):
            purchase_record_refund(
                payment_intent=paid["intent"],
                amount_refunded_cents=cumulative,
                charge_amount_cents=paid["price"],
            )
        target = paid["credits"] * cumulative // paid["price"]
        self._claw(target - paid["clawed"])
        paid["refunded"], paid["clawed"] = cumulative, target

    @precondition(lambda self: any(p["refunded"] < p["price"] for p in self.purchases))
    @rule(data=st.data())
    def dispute_lost(self, data):
        open_ = [p for p in self.purchases if p["refunded"] < p["price"]]
        paid = data.draw(st.sampled_from(open_))
        dispute = f"dp_{uuid.uuid4().hex}"
        purchase_record_dispute_lost(
            payment_intent=paid["intent"], dispute_id=dispute, amount_cents=paid["price"]
        )
        purchase_record_dispute_lost(
            payment_intent=paid["intent"], dispute_id=dispute, amount_cents=paid["price"]
        )
        self._claw(paid["credits"] - paid["clawed"])
        paid["refunded"], paid["clawed"] = paid["price"], paid["credits"]

    @rule(amount=st.integers(-100, 200).filter(bool))
    def adjust(self, amount):
        reference = f"admin:{uuid.uuid4()}"
        if amount < 0 and self.balance + amount < 0:
            with pytest.raises(InsufficientCredits):
                credits_adjust(
                    user=self.user, amount=amount, note="x", created_by=None, reference=reference
                )
            return
        credits_adjust(
            user=self.user, amount=amount, note="x", created_by=None, reference=reference
        )
        if amount > 0:
            self._credit_new_money(amount)
        else:
            self.balance += amount

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def balance_is_the_sum_of_entries_and_never_negative(self):
        account = CreditAccount.objects.get(user=self.user)
        total = sum(LedgerEntry.objects.filter(account=account).values_list("amount", flat=True))
        assert account.balance == total == self.balance
        assert account.balance >= 0

    @invariant()
    def debt_matches_the_model(self):
        account = CreditAccount.objects.get(user=self.user)
        assert account.debt == self.debt >= 0

    @invariant()
    def purchases_match_their_clawbacks(self):
        for paid in self.purchases:
            purchase = Purchase.objects.get(stripe_payment_intent_id=paid["intent"])
            assert purchase.credits_clawed_back == paid["clawed"] <= purchase.credits


@pytest.mark.django_db
def test_ledger_state_machine_keeps_balance_equal_to_entries():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
