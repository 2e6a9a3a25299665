"""Outgoing webhooks: each user's signing secret, and every delivery with its attempts.

A delivery is one event of one job (`start`, `progress`, `completed`) with the body it carries,
snapshotted when the event happened; its `message_id` (the `webhook-id` header) is the same on
every attempt, so a receiver can drop a repeat. Each try is a WebhookAttempt.
"""

import uuid

from django.conf import settings
from django.db import models


class WebhookSecret(models.Model):
    """The key a user's deliveries are signed with (`whsec_` + base64 of 24 random bytes)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_secret"
    )
    key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("user_id",)

    def __str__(self) -> str:
        return f"webhook secret of {self.user}"


class WebhookDelivery(models.Model):
    class Event(models.TextChoices):
        START = "start"
        PROGRESS = "progress"
        COMPLETED = "completed"

    class Status(models.TextChoices):
        PENDING = "pending"  # waiting for its first or next attempt
        SUCCEEDED = "succeeded"  # a 2xx answer
        FAILED = "failed"  # refused, or out of retries

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    generation = models.ForeignKey(
        "generation.Generation", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=16, choices=Event.choices)
    sequence = models.PositiveIntegerField()  # 1, 2, … per (generation, event)
    url = models.URLField(max_length=2000)
    body = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=("generation", "event", "sequence"), name="webhook_delivery_unique_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.sequence} of {self.generation_id} ({self.status})"

    @property
    def message_id(self) -> str:
        """The `webhook-id` header: stable per (job, event, sequence), so retries repeat it."""
        return f"msg_{self.generation_id.hex}_{self.event}_{self.sequence}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: its answer's status code, or why there was none."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="tries")
    attempt = models.PositiveIntegerField()  # 1-based
    status_code = models.PositiveIntegerField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ("created_at", "attempt")
        constraints = [
            models.UniqueConstraint(
                fields=("delivery", "attempt"), name="webhook_attempt_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt} of {self.delivery_id}: {self.status_code or self.error}"
