"""Reads of accounts."""

from __future__ import annotations

from rest_framework.authtoken.models import Token

from .models import User


def token_for(*, user: User) -> str | None:
    """The user's API token key, or None when they have never made one."""
    return Token.objects.filter(user=user).values_list("key", flat=True).first()
