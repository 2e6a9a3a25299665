"""The credit ledger: an append-only list of entries and a cached balance per account.

Only `apps.billing.services.ledger_apply` writes these rows; it locks the account row first.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class CreditAccount(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account"
    )
    balance = models.BigIntegerField(default=0)
    # Credits clawed back after they were spent: the user owes them and cannot spend until paid.
    debt = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_non_negative"),
            models.CheckConstraint(condition=Q(debt__gte=0), name="credit_debt_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.balance} credits"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant"
        PURCHASE = "purchase"
        SPEND = "spend"
        REFUND = "refund"
        CLAWBACK = "clawback"
        ADJUSTMENT = "adjustment"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Signed: credits added (+) or taken (-).")
    balance_after = models.BigIntegerField()
    # What this movement is about, e.g. "generation:<uuid>" or "stripe:cs_...": UNIQUE per kind,
    # so the same spend, refund or purchase can never be written twice.
    reference = models.CharField(max_length=200)
    note = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(
                fields=("kind", "reference"), name="ledger_unique_kind_reference"
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="ledger_balance_after_non_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.reference})"


class CreditPack(models.Model):
    """What a user can buy: a number of credits for a price. Staff edit packs in the admin."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=80)
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField(help_text="In the currency's smallest unit.")
    currency = models.CharField(max_length=3, default="usd", help_text="ISO code, lower case.")
    active = models.BooleanField(default=True)
    stripe_price_id = models.CharField(
        max_length=100,
        blank=True,
        help_text="Optional Stripe Price (price_...). Empty: Checkout gets the price inline.",
    )
    sort_order = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("sort_order", "price_cents", "id")
        constraints = [
            models.CheckConstraint(condition=Q(credits__gt=0), name="credit_pack_credits_positive"),
            models.CheckConstraint(
                condition=Q(price_cents__gt=0), name="credit_pack_price_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} · {self.credits} credits · {self.price_display}"

    @property
    def price_display(self) -> str:
        return f"{self.price_cents / 100:.2f} {self.currency.upper()}"

    def clean(self) -> None:
        self.currency = (self.currency or "").lower()


class Purchase(models.Model):
    """One attempt to buy a pack through Stripe Checkout, and what became of the payment.

    `credits` and `amount_cents` are copied from the pack when the purchase starts: the credit
    granted on payment comes from here, never from anything Stripe sends back.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        PAID = "paid"
        PARTIALLY_REFUNDED = "partially_refunded"
        REFUNDED = "refunded"
        DISPUTE_LOST = "dispute_lost"
        EXPIRED = "expired"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchases"
    )
    pack = models.ForeignKey(
        CreditPack, null=True, blank=True, on_delete=models.SET_NULL, related_name="purchases"
    )
    credits = models.PositiveIntegerField()
    amount_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True, db_index=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    # Cumulative amount Stripe reports as refunded, and the sum of lost disputes (cents).
    amount_refunded_cents = models.PositiveIntegerField(default=0)
    amount_disputed_cents = models.PositiveIntegerField(default=0)
    # Credits taken back so far (from the balance, or recorded as debt where already spent).
    credits_clawed_back = models.PositiveIntegerField(default=0)
    disputes_lost = models.JSONField(default=list, blank=True, help_text="Stripe dispute ids.")
    error = models.CharField(max_length=500, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(
                condition=Q(credits_clawed_back__lte=models.F("credits")),
                name="purchase_clawback_at_most_credits",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.credits} credits · {self.status}"

    @property
    def ledger_reference(self) -> str:
        return f"stripe:{self.stripe_session_id}"

    @property
    def is_credited(self) -> bool:
        return self.paid_at is not None


class StripeEvent(models.Model):
    """A Stripe webhook event already applied; written in the same transaction as its effect."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    outcome = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"
