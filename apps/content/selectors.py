"""Reads of the content library. Who may see what is decided here, and only here."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.core.exceptions import NotFound

from .models import ContentItem, ModerationAction

Visibility = ContentItem.Visibility
Status = ContentItem.ModerationStatus

# Waiting for staff: pending, or reported and not decided again since.
NEEDS_REVIEW_Q = Q(moderation_status=Status.PENDING) | Q(flagged_at__isnull=False)


def _items() -> QuerySet[ContentItem]:
    return ContentItem.objects.select_related("owner", "generation", "persona")


def content_public_list() -> QuerySet[ContentItem]:
    """The public gallery: public and approved items of every user, newest first."""
    return _items().filter(visibility=Visibility.PUBLIC, moderation_status=Status.APPROVED)


def content_list_for_owner(*, user) -> QuerySet[ContentItem]:
    """The user's own items in every state, newest first."""
    return _items().filter(owner=user)


def content_can_view(*, user, item: ContentItem) -> bool:
    """Owner and staff always; anyone else only while the item is shared and approved."""
    if item.is_shared:
        return True
    if user is None or not user.is_authenticated:
        return False
    return item.owner_id == user.pk or user.is_staff


def content_get_for_viewer(*, user, item_id) -> ContentItem:
    """An item this user may see (anonymous included); anything else is a 404."""
    item = _items().filter(pk=item_id).first()
    if item is None or not content_can_view(user=user, item=item):
        raise NotFound("No such video.")
    return item


def content_get_for_owner(*, user, item_id) -> ContentItem:
    item = _items().filter(pk=item_id, owner_id=getattr(user, "pk", None)).first()
    if item is None:
        raise NotFound("No such video.")
    return item


def content_moderation_queue() -> QuerySet[ContentItem]:
    """Items waiting for staff: pending ones and reported ones not yet decided again."""
    return _items().filter(NEEDS_REVIEW_Q)


def moderation_actions_for_item(*, item: ContentItem) -> QuerySet[ModerationAction]:
    return ModerationAction.objects.filter(item=item).select_related("actor")
