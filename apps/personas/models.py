"""A persona: a recurring character (mascot, influencer, story hero) reused across generations."""

import uuid

from django.conf import settings
from django.db import models


def _reference_path(instance, filename: str) -> str:
    return f"personas/{instance.user_id}/{uuid.uuid4().hex}.png"


class Persona(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personas"
    )
    name = models.CharField(max_length=80)
    description = models.TextField(blank=True, max_length=1000)
    style = models.CharField(
        max_length=300,
        blank=True,
        help_text="Words woven into every prompt that uses this persona.",
    )
    reference_image = models.FileField(upload_to=_reference_path, blank=True, max_length=300)
    defaults = models.JSONField(
        default=dict, blank=True, help_text="Parameters used when a generation leaves them unset."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = [
            models.UniqueConstraint(fields=("user", "name"), name="persona_unique_name_per_user")
        ]

    def __str__(self) -> str:
        return self.name
