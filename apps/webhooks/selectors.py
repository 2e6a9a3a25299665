"""Reads of webhook deliveries, scoped to the job's owner (another user's job is a 404)."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.generation.selectors import generation_get

from .models import WebhookAttempt


def webhook_attempts_for_generation(*, user, generation_id) -> QuerySet[WebhookAttempt]:
    """Every attempt at every delivery of the job, oldest first."""
    generation = generation_get(user=user, generation_id=generation_id)
    return (
        WebhookAttempt.objects.filter(delivery__generation=generation)
        .select_related("delivery")
        .order_by("created_at", "attempt")
    )
