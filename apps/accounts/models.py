from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The platform's user, custom from the first migration so it can grow without pain."""

    can_publish = models.BooleanField(
        default=True, help_text="Unset to suspend the user from publishing to the gallery."
    )
    # Per-user limits (docs/architecture.md, "Abuse limits"); empty: the setting applies.
    max_active_generations = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Jobs (queued + running) this user may have at once. "
        "Empty: MAX_ACTIVE_GENERATIONS_PER_USER.",
    )
    daily_spend_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Credits this user may spend per UTC day (spends less refunds since 00:00 UTC). "
        "Empty: DAILY_SPEND_LIMIT (no limit when that is unset).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
