from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from rest_framework.authtoken.models import Token

from apps.billing.services import credits_grant_signup
from apps.core.exceptions import ApplicationError

from .models import User


class InvalidCredentials(ApplicationError):
    status_code = 400
    default_code = "invalid_credentials"


def user_on_created(*, user: User) -> None:
    """Runs once per new user: the free-credit grant (idempotent on its own reference)."""
    credits_grant_signup(user=user, amount=settings.FREE_CREDITS)


def token_obtain(*, username: str, password: str, request=None) -> str:
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        raise InvalidCredentials("Unable to sign in with the given username and password.")
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def token_rotate(*, user: User) -> str:
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user).key
