"""Account pages: settings, with the API token (show, copy, regenerate)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from apps.billing.selectors import credits_balance

from .selectors import token_for
from .services import token_rotate


@never_cache
@login_required
@require_safe
def settings_page(request):
    context = {
        "page_title": "Account settings",
        "page_description": "Your account, password and API token.",
        "token": token_for(user=request.user),
        "balance": credits_balance(user=request.user),
    }
    return render(request, "account/settings.html", context)


@login_required
@require_POST
def token_regenerate(request):
    had_token = token_for(user=request.user) is not None
    token_rotate(user=request.user)
    messages.success(
        request,
        "New API token made: the old one no longer works."
        if had_token
        else "API token made: send it as the header Authorization: Token <key>.",
    )
    return redirect("accounts:settings")
