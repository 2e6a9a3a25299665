from django.db.models import Q, QuerySet, Sum

from .models import CreditAccount, CreditPack, LedgerEntry, Purchase


def credits_balance(*, user) -> int:
    account = CreditAccount.objects.filter(user=user).only("balance").first()
    return account.balance if account else 0


def credits_account(*, user) -> CreditAccount:
    """The user's account (unsaved and empty if it does not exist yet): balance and debt."""
    return CreditAccount.objects.filter(user=user).first() or CreditAccount(user=user)


def credits_net_charge(*, reference: str, part_prefix: str = "") -> int:
    """What a user has paid, net, for one thing bought under `reference`: its spends less its
    refunds, counting also every entry whose reference starts with `part_prefix` (the parts of
    a job charged and refunded on their own, e.g. a storyboard's scenes). Never negative."""
    match = Q(reference=reference)
    if part_prefix:
        match |= Q(reference__startswith=part_prefix)
    total = LedgerEntry.objects.filter(match).aggregate(total=Sum("amount"))["total"] or 0
    return max(0, -total)


def credits_spent_since(*, user, since) -> int:
    """The credits `user` spent from `since` on, net: spend entries less refund entries written
    in that time (a refunded job gives its credits back to the day it is refunded). Never
    negative."""
    total = (
        LedgerEntry.objects.filter(
            account__user=user,
            kind__in=(LedgerEntry.Kind.SPEND, LedgerEntry.Kind.REFUND),
            created_at__gte=since,
        ).aggregate(total=Sum("amount"))["total"]
        or 0
    )
    return max(0, -total)


def ledger_list(*, user) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(account__user=user).order_by("-created_at", "-id")


def credit_packs_active() -> QuerySet[CreditPack]:
    return CreditPack.objects.filter(active=True).order_by("sort_order", "price_cents", "id")


def purchase_for_session(*, user, session_id: str) -> Purchase | None:
    if not session_id:
        return None
    return (
        Purchase.objects.select_related("pack")
        .filter(user=user, stripe_session_id=session_id)
        .first()
    )
