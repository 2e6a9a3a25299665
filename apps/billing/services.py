"""Every credit movement goes through `ledger_apply`, which locks the account row.

No other code changes a balance. Each entry has a (kind, reference) that is UNIQUE in the
database, so replaying the same spend, refund or purchase writes nothing the second time.

Purchases (Stripe Checkout) live here too: the credit for a paid session is a `purchase` entry
with reference `stripe:<session id>`, and refunds or lost disputes claw back a proportional
share of the purchase's own credits. The purchase row is locked (in this module only) while a
payment event is applied, then the account row inside `ledger_apply`: always in that order.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from datetime import UTC, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import stripe_api
from .exceptions import (
    BillingUnavailable,
    CreditsBlocked,
    DailySpendLimitReached,
    InsufficientCredits,
    PackUnavailable,
    PaymentProviderError,
)
from .models import CreditAccount, CreditPack, LedgerEntry, Purchase, StripeEvent
from .selectors import credits_spent_since

logger = logging.getLogger(__name__)
Kind = LedgerEntry.Kind


def _account_for_update(*, user) -> CreditAccount:
    """The user's account, locked until the transaction ends: one query when it exists."""
    try:
        return CreditAccount.objects.select_for_update().get(user=user)
    except CreditAccount.DoesNotExist:
        CreditAccount.objects.get_or_create(user=user)
        return CreditAccount.objects.select_for_update().get(user=user)


def credits_account_lock(*, user) -> CreditAccount:
    """Lock the user's credit account for the rest of the current transaction and return it.

    The lock that orders everything one user spends: a caller that must count something before
    a spend (apps.generation's cap on active jobs) takes it first, counts, and passes the
    account on to `credits_spend(account=...)`, which then need not read it again. Only inside
    `transaction.atomic()`.
    """
    return _account_for_update(user=user)


def ledger_apply(
    *,
    user,
    kind: str,
    amount: int,
    reference: str,
    note: str = "",
    created_by=None,
    account: CreditAccount | None = None,
) -> LedgerEntry | None:
    """Apply one signed movement exactly once. Returns the entry, or None when it already exists.

    Negative amounts need the balance to cover them (InsufficientCredits otherwise) — except
    clawbacks, which take what there is and record the rest as debt. `account`: the user's
    account as `credits_account_lock` returned it in this same transaction (its row is locked
    and the object current); without it the account is read and locked here.

    "Exactly once" is the database's UNIQUE(kind, reference): a second entry fails to insert
    and everything this call did is rolled back to its savepoint. Only a refused spend asks
    whether it was already applied, so that replaying an applied spend stays a no-op.
    """
    if amount == 0 and kind != Kind.ADJUSTMENT:
        return None
    if account is not None and account.user_id != user.pk:
        raise ValueError("ledger_apply: the account given is not this user's")
    duplicate = False
    try:
        with transaction.atomic():
            if account is None:
                account = _account_for_update(user=user)
            balance, debt = account.balance, account.debt
            if kind == Kind.CLAWBACK:
                take = min(balance, -amount)
                debt += -amount - take
                amount = -take
            elif amount < 0:
                try:
                    if debt > 0 and kind == Kind.SPEND:
                        raise CreditsBlocked(
                            f"Your account owes {debt} credits from a refunded payment; "
                            "buy credits to settle it before generating.",
                        )
                    if kind == Kind.SPEND:
                        _daily_limit_check(user=user, amount=-amount)
                    if balance + amount < 0:
                        raise InsufficientCredits(required=-amount, balance=balance)
                except (CreditsBlocked, DailySpendLimitReached, InsufficientCredits):
                    if LedgerEntry.objects.filter(kind=kind, reference=reference).exists():
                        return None  # applied before: a replay is not refused
                    raise
            elif amount > 0 and debt > 0 and kind in (Kind.PURCHASE, Kind.ADJUSTMENT):
                # New money settles the debt first.
                settle = min(debt, amount)
                debt -= settle
                amount -= settle
                note = f"{note} ({settle} credits settled a debt)".strip()
            balance += amount
            try:
                entry = LedgerEntry.objects.create(
                    account=account,
                    kind=kind,
                    amount=amount,
                    balance_after=balance,
                    reference=reference,
                    note=note[:500],
                    created_by=created_by,
                )
            except IntegrityError:
                duplicate = True  # (kind, reference) recorded before, or by a concurrent writer
                raise
            CreditAccount.objects.filter(pk=account.pk).update(
                balance=balance, debt=debt, updated_at=entry.created_at
            )
    except IntegrityError:
        if duplicate:
            return None
        raise
    account.balance, account.debt, account.updated_at = balance, debt, entry.created_at
    return entry


def daily_spend_limit(*, user) -> int | None:
    """The user's credits per UTC day: their own limit (set by staff), else DAILY_SPEND_LIMIT;
    None for no limit."""
    own = getattr(user, "daily_spend_limit", None)
    return own if own is not None else settings.DAILY_SPEND_LIMIT


def _daily_limit_check(*, user, amount: int) -> None:
    """Refuse a spend that would take today's net spending (since 00:00 UTC, from the ledger)
    past the user's limit. Runs with the account row locked, so concurrent spends of one user
    are counted one after the other."""
    limit = daily_spend_limit(user=user)
    if limit is None:
        return
    now = timezone.now()
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    spent = credits_spent_since(user=user, since=midnight)
    if spent + amount > limit:
        reset = midnight + timedelta(days=1)
        raise DailySpendLimitReached(
            limit=limit,
            spent=spent,
            required=amount,
            retry_after=max(1, math.ceil((reset - now).total_seconds())),
        )


def credits_grant_signup(*, user, amount: int) -> LedgerEntry | None:
    # The account exists from the start, also when FREE_CREDITS is 0 (staff grant into it).
    CreditAccount.objects.get_or_create(user=user)
    return ledger_apply(
        user=user,
        kind=Kind.GRANT,
        amount=amount,
        reference=f"signup:{user.pk}",
        note="Welcome credits",
    )


def credits_spend(
    *, user, amount: int, reference: str, note: str = "", account: CreditAccount | None = None
) -> LedgerEntry | None:
    """Spend `amount` credits once under `reference`; `account`: see ledger_apply."""
    return ledger_apply(
        user=user,
        kind=Kind.SPEND,
        amount=-amount,
        reference=reference,
        note=note,
        account=account,
    )


def credits_refund_spend(*, spend_reference: str, note: str) -> LedgerEntry | None:
    """Give back a spend, exactly once (the refund's reference is the spend's)."""
    spend = (
        LedgerEntry.objects.select_related("account__user")
        .filter(kind=Kind.SPEND, reference=spend_reference)
        .first()
    )
    if spend is None:
        return None
    return ledger_apply(
        user=spend.account.user,
        kind=Kind.REFUND,
        amount=-spend.amount,
        reference=spend_reference,
        note=note,
    )


def credits_adjust(
    *, user, amount: int, note: str, created_by, reference: str
) -> LedgerEntry | None:
    return ledger_apply(
        user=user,
        kind=Kind.ADJUSTMENT,
        amount=amount,
        reference=reference,
        note=note,
        created_by=created_by,
    )


# --- purchases: Stripe Checkout -----------------------------------------------------------------

UNAVAILABLE_MESSAGE = (
    "Buying credits is not available on this server (Stripe is not configured). "
    "Ask the operator to grant you credits."
)


def purchase_checkout_start(*, user, pack_id, success_url: str, cancel_url: str) -> Purchase:
    """Record a pending purchase of an active pack and open a Stripe Checkout Session for it.

    The purchase is committed before Stripe is called (no transaction is held open across the
    network); a Stripe failure marks it `failed` and raises PaymentProviderError.
    """
    pack = CreditPack.objects.filter(pk=pack_id, active=True).first()
    if pack is None:  # a mistake in the request, whether or not Stripe is configured
        message = "This credit pack does not exist or is no longer on sale."
        raise PackUnavailable(message, extra={"pack": [message]})
    if not stripe_api.stripe_configured():
        raise BillingUnavailable(UNAVAILABLE_MESSAGE)
    purchase = Purchase.objects.create(
        user=user,
        pack=pack,
        credits=pack.credits,
        amount_cents=pack.price_cents,
        currency=pack.currency,
    )
    try:
        session = stripe_api.checkout_session_create(
            purchase_id=str(purchase.pk),
            user_id=user.pk,
            customer_email=user.email,
            pack_name=pack.name,
            credits=pack.credits,
            amount_cents=pack.price_cents,
            currency=pack.currency,
            stripe_price_id=pack.stripe_price_id,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    except stripe_api.StripeError as exc:
        logger.warning("Stripe refused a checkout session for purchase %s: %s", purchase.pk, exc)
        Purchase.objects.filter(pk=purchase.pk).update(
            status=Purchase.Status.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
        raise PaymentProviderError("Stripe could not start the checkout; try again in a moment.")
    purchase.stripe_session_id = session.id
    purchase.checkout_url = session.url
    purchase.save(update_fields=["stripe_session_id", "checkout_url", "updated_at"])
    return purchase


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def _purchase_for_update(
    *, session_id: str = "", payment_intent: str = "", purchase_id=None
) -> Purchase | None:
    """Find and lock a purchase by its session, its payment intent, or (fallback) our own id.

    The id fallback comes from what we sent Stripe (client_reference_id / metadata) and is only
    used to find the row; amounts always come from the row itself.
    """
    rows = Purchase.objects.select_for_update(of=("self",)).select_related("user", "pack")
    purchase = None
    if session_id:
        purchase = rows.filter(stripe_session_id=session_id).first()
    if purchase is None and payment_intent:
        purchase = rows.filter(stripe_payment_intent_id=payment_intent).first()
    purchase_uuid = _uuid_or_none(purchase_id)
    if purchase is None and purchase_uuid is not None:
        purchase = rows.filter(pk=purchase_uuid).first()
        if purchase is not None:
            if session_id and purchase.stripe_session_id not in (None, session_id):
                return None
            if payment_intent and purchase.stripe_payment_intent_id not in ("", payment_intent):
                return None
    if purchase is None:
        return None
    if session_id and not purchase.stripe_session_id:
        purchase.stripe_session_id = session_id
    if payment_intent and not purchase.stripe_payment_intent_id:
        purchase.stripe_payment_intent_id = payment_intent
    return purchase


def _purchase_settle_reversals(purchase: Purchase) -> None:
    """Claw back the share of a credited purchase that was refunded or lost in a dispute.

    Idempotent: the target is computed from the cumulative amounts on the (locked) row, and only
    the difference to what was already clawed is taken. Credits already spent become debt.
    """
    if not purchase.is_credited:
        return
    reversed_cents = min(
        purchase.amount_refunded_cents + purchase.amount_disputed_cents, purchase.amount_cents
    )
    target = purchase.credits * reversed_cents // purchase.amount_cents
    due = target - purchase.credits_clawed_back
    if due > 0:
        why = "dispute lost" if purchase.amount_disputed_cents else "payment refunded"
        ledger_apply(
            user=purchase.user,
            kind=Kind.CLAWBACK,
            amount=-due,
            reference=f"{purchase.ledger_reference}:reversed:{reversed_cents}",
            note=(
                f"Clawback: {why} ({reversed_cents / 100:.2f} of "
                f"{purchase.amount_cents / 100:.2f} {purchase.currency.upper()})"
            ),
        )
        purchase.credits_clawed_back = target
    if reversed_cents >= purchase.amount_cents:
        purchase.status = (
            Purchase.Status.DISPUTE_LOST
            if purchase.amount_disputed_cents
            else Purchase.Status.REFUNDED
        )
    elif reversed_cents > 0:
        purchase.status = Purchase.Status.PARTIALLY_REFUNDED
    else:
        purchase.status = Purchase.Status.PAID


def purchase_checkout_completed(
    *, session_id: str, paid: bool, payment_intent: str = "", purchase_id=None
) -> str:
    """A Checkout Session finished: remember its payment intent, and credit it once when paid.

    Exactly once per session, whatever the order or number of events: the purchase row is
    locked, and the ledger's UNIQUE(kind, reference="stripe:<session id>") is the last word.
    """
    with transaction.atomic():
        purchase = _purchase_for_update(
            session_id=session_id, payment_intent=payment_intent, purchase_id=purchase_id
        )
        if purchase is None:
            logger.warning("Stripe session %s matches no purchase; ignored", session_id)
            return "ignored: unknown session"
        if not paid:
            purchase.save()
            return "waiting for payment"
        if purchase.is_credited:
            purchase.save()
            return "already credited"
        pack_name = purchase.pack.name if purchase.pack else "credit pack"
        ledger_apply(
            user=purchase.user,
            kind=Kind.PURCHASE,
            amount=purchase.credits,
            reference=purchase.ledger_reference,
            note=f"Bought {pack_name}: {purchase.credits} credits",
        )
        purchase.paid_at = timezone.now()
        purchase.status = Purchase.Status.PAID
        purchase.error = ""
        # A refund or dispute that arrived before this event is applied now.
        _purchase_settle_reversals(purchase)
        purchase.save()
    return "credited"


def purchase_checkout_closed(*, session_id: str, status: str, reason: str) -> str:
    """An unpaid session expired or its delayed payment failed: close the pending purchase."""
    updated = Purchase.objects.filter(
        stripe_session_id=session_id, status=Purchase.Status.PENDING, paid_at__isnull=True
    ).update(status=status, error=reason[:500], updated_at=timezone.now())
    return f"marked {status}" if updated else "ignored: not pending"


def purchase_record_refund(
    *,
    payment_intent: str,
    amount_refunded_cents: int,
    charge_amount_cents: int | None = None,
    purchase_id=None,
) -> str:
    """Stripe refunded (part of) a payment: `amount_refunded_cents` is the charge's cumulative.

    Each new cumulative amount claws back once; a repeated or out-of-date one claws nothing.
    A refund that arrives before the purchase was credited is recorded and applied on credit.
    """
    with transaction.atomic():
        purchase = _purchase_for_update(payment_intent=payment_intent, purchase_id=purchase_id)
        if purchase is None:
            logger.warning("Refund for payment %s matches no purchase; ignored", payment_intent)
            return "ignored: unknown payment"
        refunded = max(0, int(amount_refunded_cents))
        if charge_amount_cents and charge_amount_cents != purchase.amount_cents:
            refunded = purchase.amount_cents * refunded // int(charge_amount_cents)
        refunded = min(refunded, purchase.amount_cents)
        if refunded <= purchase.amount_refunded_cents:
            purchase.save()
            return "already recorded"
        purchase.amount_refunded_cents = refunded
        _purchase_settle_reversals(purchase)
        purchase.save()
    return "clawed back" if purchase.is_credited else "recorded before payment"


def purchase_record_dispute_lost(*, payment_intent: str, dispute_id: str, amount_cents: int) -> str:
    """A dispute closed as lost: the disputed amount is gone, its credits are clawed back once."""
    with transaction.atomic():
        purchase = _purchase_for_update(payment_intent=payment_intent)
        if purchase is None:
            logger.warning("Lost dispute %s matches no purchase; ignored", dispute_id)
            return "ignored: unknown payment"
        if dispute_id in purchase.disputes_lost:
            return "already recorded"
        purchase.disputes_lost = [*purchase.disputes_lost, dispute_id]
        purchase.amount_disputed_cents = min(
            purchase.amount_disputed_cents + max(0, int(amount_cents)), purchase.amount_cents
        )
        _purchase_settle_reversals(purchase)
        purchase.save()
    return "clawed back" if purchase.is_credited else "recorded before payment"


def purchase_refresh_from_stripe(*, purchase: Purchase) -> Purchase:
    """Ask Stripe about a pending purchase (the success page does, in case the webhook is late).

    Credits through the same exactly-once path as the webhook; Stripe errors change nothing.
    """
    if (
        purchase.status != Purchase.Status.PENDING
        or not purchase.stripe_session_id
        or not stripe_api.stripe_configured()
    ):
        return purchase
    try:
        session = stripe_api.checkout_session_retrieve(session_id=purchase.stripe_session_id)
    except stripe_api.StripeError as exc:
        logger.info("Could not read session %s from Stripe: %s", purchase.stripe_session_id, exc)
        return purchase
    if session.payment_status == "paid":
        purchase_checkout_completed(
            session_id=session.id, paid=True, payment_intent=session.payment_intent
        )
        purchase.refresh_from_db()
    return purchase


# --- Stripe events ------------------------------------------------------------------------------


def stripe_event_apply(*, event_id: str, event_type: str, apply: Callable[[], str]) -> str:
    """Apply a webhook event's effect once: the event row and the effect commit together.

    A second delivery of the same event (even concurrently) finds the row and does nothing.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeEvent.objects.create(event_id=event_id, type=event_type)
        except IntegrityError:
            return "duplicate"
        outcome = apply()
        record.outcome = outcome[:200]
        record.save(update_fields=["outcome"])
    return outcome
