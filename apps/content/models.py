"""The content library: one item per succeeded generation, its reports and its moderation log.

Who may see an item (and its media) follows two fields: `visibility` (what its owner chose) and
`moderation_status` (what staff decided). Others see it only when it is public or unlisted AND
approved; its owner always sees it (a rejected one marked removed); staff see everything.
"""

import uuid

from django.conf import settings
from django.db import models


class ContentItem(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private"
        UNLISTED = "unlisted"
        PUBLIC = "public"

    class ModerationStatus(models.TextChoices):
        PENDING = "pending"
        APPROVED = "approved"
        REJECTED = "rejected"

    SHARED = (Visibility.UNLISTED, Visibility.PUBLIC)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    generation = models.OneToOneField(
        "generation.Generation", on_delete=models.CASCADE, related_name="content_item"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="content_items"
    )
    persona = models.ForeignKey(
        "personas.Persona",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="content_items",
    )
    title = models.CharField(max_length=120, blank=True)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    moderation_status = models.CharField(
        max_length=10, choices=ModerationStatus.choices, default=ModerationStatus.PENDING
    )
    reports_count = models.PositiveIntegerField(default=0)
    # Set by a report, cleared by a moderation decision: the item waits in the queue meanwhile.
    flagged_at = models.DateTimeField(null=True, blank=True)
    moderated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [
            models.Index(
                fields=("visibility", "moderation_status", "-created_at"),
                name="content_gallery_idx",
            ),
            models.Index(fields=("owner", "-created_at"), name="content_owner_idx"),
        ]

    def __str__(self) -> str:
        return self.title or f"Video {self.pk}"

    @property
    def is_shared(self) -> bool:
        """Visible to people other than its owner and staff."""
        return (
            self.visibility in self.SHARED
            and self.moderation_status == self.ModerationStatus.APPROVED
        )

    @property
    def is_removed(self) -> bool:
        return self.moderation_status == self.ModerationStatus.REJECTED

    @property
    def needs_review(self) -> bool:
        return self.moderation_status == self.ModerationStatus.PENDING or bool(self.flagged_at)


class Report(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(ContentItem, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="content_reports"
    )
    reason = models.TextField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(
                fields=("item", "reporter"), name="content_report_one_per_reporter"
            )
        ]

    def __str__(self) -> str:
        return f"Report on {self.item_id} by {self.reporter_id}"


class ModerationAction(models.Model):
    """The audit log: every moderation decision, who made it, when and why."""

    class Action(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        REFUND = "refund"
        SUSPEND = "suspend"
        REINSTATE = "reinstate"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    item = models.ForeignKey(
        ContentItem,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions",
    )
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions_received",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions_taken",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # What was acted on, in words: kept when the item or the user is deleted later.
    subject = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True, max_length=2000)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("-created_at", "-id")

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_id} at {self.created_at:%Y-%m-%d %H:%M}"


class ModerationQueueItem(ContentItem):
    """The admin's moderation queue: the same rows, filtered to what waits for a decision."""

    class Meta:
        proxy = True
        verbose_name = "moderation queue item"
        verbose_name_plural = "moderation queue"
