"""Writes to the content library: items for finished generations, publishing, reports,
moderation (approve, reject, refund, suspend).

Every moderation decision writes a ModerationAction row in the same transaction as the change
it records, so the log cannot miss one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.accounts.models import User
from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_net_charge
from apps.billing.services import credits_refund_spend, ledger_apply
from apps.core.exceptions import ApplicationError, Conflict
from apps.core.screening import prompt_screen

from .exceptions import (
    AlreadyRefunded,
    AlreadyReported,
    InvalidModeration,
    PublishingSuspended,
)
from .models import ContentItem, ModerationAction, Report

Visibility = ContentItem.Visibility
Status = ContentItem.ModerationStatus
Action = ModerationAction.Action
TITLE_MAX = ContentItem._meta.get_field("title").max_length


# --- items ------------------------------------------------------------------------------------


def _default_title(generation) -> str:
    text = " ".join((generation.prompt or "").split())
    if not text:
        text = generation.kind.replace("_", " ").capitalize() or "Untitled video"
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def content_item_create_for_generation(*, generation) -> ContentItem:
    """The library item of a succeeded generation; one per generation however often it is called.

    Private at first; approved at once when settings.CONTENT_AUTO_APPROVE, pending otherwise.
    """
    existing = ContentItem.objects.filter(generation_id=generation.pk).first()
    if existing is not None:
        return existing
    approved = settings.CONTENT_AUTO_APPROVE
    try:
        with transaction.atomic():
            return ContentItem.objects.create(
                generation=generation,
                owner_id=generation.user_id,
                persona_id=generation.persona_id,
                title=_default_title(generation),
                visibility=Visibility.PRIVATE,
                moderation_status=Status.APPROVED if approved else Status.PENDING,
                moderated_at=timezone.now() if approved else None,
            )
    except IntegrityError:
        # A concurrent caller created it first.
        return ContentItem.objects.get(generation_id=generation.pk)


def content_item_update(
    *, item: ContentItem, title: str | None = None, visibility: str | None = None
) -> ContentItem:
    """The owner renames, publishes or hides an item. Suspended users cannot share items."""
    fields = []
    if title is not None:
        title = " ".join(title.split())
        prompt_screen(text=title)
        item.title = title
        fields.append("title")
    if visibility is not None and visibility != item.visibility:
        if visibility not in Visibility.values:
            raise ApplicationError("visibility: choose private, unlisted or public.")
        if visibility in ContentItem.SHARED and not item.owner.can_publish:
            raise PublishingSuspended(
                "Your account is suspended from publishing: your videos can stay private, but "
                "they cannot be made public or unlisted. Contact the staff to appeal."
            )
        item.visibility = visibility
        fields.append("visibility")
    if fields:
        item.full_clean()
        item.save(update_fields=[*fields, "updated_at"])
    return item


# --- reports ----------------------------------------------------------------------------------


def content_report(*, item: ContentItem, reporter, reason: str) -> Report:
    """A signed-in user reports an item; it enters the moderation queue (flagged) until staff
    decide again. One report per reporter per item."""
    reason = reason.strip()
    if not reason:
        raise ApplicationError("reason: say what is wrong with this video.")
    if item.owner_id == reporter.pk:
        raise ApplicationError("You cannot report your own video.", code="own_item")
    now = timezone.now()
    try:
        with transaction.atomic():
            report = Report.objects.create(item=item, reporter=reporter, reason=reason[:1000])
            ContentItem.objects.filter(pk=item.pk).update(
                reports_count=F("reports_count") + 1,
                flagged_at=Coalesce(F("flagged_at"), now),
                updated_at=now,
            )
    except IntegrityError:
        raise AlreadyReported("You have already reported this video; staff will look at it.")
    item.refresh_from_db()
    return report


# --- moderation -------------------------------------------------------------------------------


def _record(*, action: str, actor, reason: str, item=None, target_user=None, **details):
    if item is not None:
        subject = f"video {item.pk} ({item.title[:60]}) of {item.owner.username}"
        target_user = target_user or item.owner
    else:
        subject = f"user {target_user.username}"
    return ModerationAction.objects.create(
        item=item,
        target_user=target_user,
        actor=actor,
        action=action,
        reason=reason.strip()[:2000],
        subject=subject[:200],
        details=details,
    )


def content_approve(*, item: ContentItem, actor, reason: str = "") -> ContentItem:
    return _decide(item=item, actor=actor, status=Status.APPROVED, reason=reason)


def content_reject(*, item: ContentItem, actor, reason: str) -> ContentItem:
    if not reason.strip():
        raise InvalidModeration("reason: say why the video is rejected (its owner sees it).")
    return _decide(item=item, actor=actor, status=Status.REJECTED, reason=reason)


def _decide(*, item: ContentItem, actor, status: str, reason: str) -> ContentItem:
    now = timezone.now()
    with transaction.atomic():
        ContentItem.objects.filter(pk=item.pk).update(
            moderation_status=status, moderated_at=now, flagged_at=None, updated_at=now
        )
        _record(
            action=Action.APPROVE if status == Status.APPROVED else Action.REJECT,
            actor=actor,
            reason=reason,
            item=item,
            previous=item.moderation_status,
        )
    item.refresh_from_db()
    return item


def content_refund(*, item: ContentItem, actor, reason: str) -> LedgerEntry:
    """Give the owner the generation's credits back, once (the billing service's refund is
    idempotent on the spend's reference). Raises AlreadyRefunded the second time."""
    note = (
        f"Refund by moderation: {reason.strip()}"[:500]
        if reason.strip()
        else "Refund by moderation"
    )
    generation = item.generation
    with transaction.atomic():
        if generation.kind == "storyboard":
            # What the owner still pays: its parts may have been refunded and retried on their
            # own references, so the charge at create is not what is owed back.
            owed = credits_net_charge(
                reference=generation.spend_reference, part_prefix=generation.part_reference_prefix
            )
            entry = ledger_apply(
                user=generation.user,
                kind=LedgerEntry.Kind.REFUND,
                amount=owed,
                reference=generation.spend_reference,
                note=note,
            )
        else:
            entry = credits_refund_spend(spend_reference=generation.spend_reference, note=note)
        if entry is None:
            raise AlreadyRefunded("This video's credits were already refunded (or never charged).")
        _record(action=Action.REFUND, actor=actor, reason=reason, item=item, credits=entry.amount)
    return entry


def user_publishing_suspend(*, user: User, actor, reason: str, item=None) -> bool:
    """Stop a user from sharing: can_publish off, their shared items back to private.

    Returns False (and records nothing) when the user was already suspended.
    """
    if not reason.strip():
        raise InvalidModeration("reason: say why the user is suspended from publishing.")
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, can_publish=True).update(can_publish=False):
            return False
        hidden = ContentItem.objects.filter(owner=user, visibility__in=ContentItem.SHARED).update(
            visibility=Visibility.PRIVATE, updated_at=timezone.now()
        )
        _record(
            action=Action.SUSPEND,
            actor=actor,
            reason=reason,
            item=item,
            target_user=user,
            hidden_items=hidden,
        )
    user.can_publish = False
    return True


def user_publishing_reinstate(*, user: User, actor, reason: str = "") -> bool:
    with transaction.atomic():
        if not User.objects.filter(pk=user.pk, can_publish=False).update(can_publish=True):
            return False
        _record(action=Action.REINSTATE, actor=actor, reason=reason, target_user=user)
    user.can_publish = True
    return True


def content_moderate(*, item: ContentItem, actor, action: str, reason: str = "") -> ContentItem:
    """One entry point for staff tools (the API): approve, reject, refund, suspend the owner."""
    if action == Action.APPROVE:
        return content_approve(item=item, actor=actor, reason=reason)
    if action == Action.REJECT:
        return content_reject(item=item, actor=actor, reason=reason)
    if action == Action.REFUND:
        content_refund(item=item, actor=actor, reason=reason)
    elif action == Action.SUSPEND:
        if not user_publishing_suspend(user=item.owner, actor=actor, reason=reason, item=item):
            raise Conflict("This user is already suspended from publishing.", code="suspended")
    else:
        raise InvalidModeration("action: choose approve, reject, refund or suspend.")
    item.refresh_from_db()
    return item
