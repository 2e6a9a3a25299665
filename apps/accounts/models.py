from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """The platform's user, custom from the first migration so it can grow without pain."""

    can_publish = models.BooleanField(
        default=True, help_text="Unset to suspend the user from publishing to the gallery."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("id",)
