"""The account settings page's webhook secret: rotate it (the page shows it through the
`webhook_secret` template tag, so the accounts app, below this one, imports nothing here)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from .services import webhook_secret_rotate


@login_required
@require_POST
def secret_rotate(request):
    webhook_secret_rotate(user=request.user)
    messages.success(request, "New webhook secret made: the old one no longer signs anything.")
    return redirect("accounts:settings")
