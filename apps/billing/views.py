"""The credits pages: balance, packs to buy, the ledger; and Stripe Checkout's return pages."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.core.exceptions import ApplicationError

from . import stripe_api
from .models import Purchase
from .selectors import credit_packs_active, credits_account, ledger_list, purchase_for_session
from .services import UNAVAILABLE_MESSAGE, purchase_checkout_start, purchase_refresh_from_stripe

LEDGER_PAGE_SIZE = 25


def checkout_return_urls(request) -> tuple[str, str]:
    """Absolute success/cancel URLs; Stripe fills in {CHECKOUT_SESSION_ID} itself."""
    success = request.build_absolute_uri(reverse("billing:success"))
    cancel = request.build_absolute_uri(reverse("billing:cancel"))
    return f"{success}?session_id={{CHECKOUT_SESSION_ID}}", cancel


@login_required
def credits_page(request):
    account = credits_account(user=request.user)
    page = Paginator(ledger_list(user=request.user), LEDGER_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "page_title": "Credits",
        "page_description": "Your credit balance, credit packs to buy, and every credit movement.",
        "account": account,
        "packs": credit_packs_active(),
        "buying_available": stripe_api.stripe_configured(),
        "unavailable_message": UNAVAILABLE_MESSAGE,
        "page": page,
        "entries": page.object_list,
    }
    return render(request, "billing/credits.html", context)


@login_required
@require_POST
def buy_pack(request, pack_id):
    success_url, cancel_url = checkout_return_urls(request)
    try:
        purchase = purchase_checkout_start(
            user=request.user, pack_id=pack_id, success_url=success_url, cancel_url=cancel_url
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("billing:credits")
    response = HttpResponseRedirect(purchase.checkout_url)
    response.status_code = 303  # POST → GET on Stripe's page
    return response


@login_required
def checkout_success(request):
    purchase = purchase_for_session(
        user=request.user, session_id=request.GET.get("session_id", "")[:255]
    )
    if purchase is not None and purchase.status == Purchase.Status.PENDING:
        # The webhook may not have landed yet: ask Stripe (same exactly-once credit path).
        purchase = purchase_refresh_from_stripe(purchase=purchase)
    context = {
        "page_title": "Payment received" if purchase else "Purchase not found",
        "purchase": purchase,
        "confirming": purchase is not None and purchase.status == Purchase.Status.PENDING,
        "account": credits_account(user=request.user),
    }
    return render(
        request, "billing/success.html", context, status=200 if purchase is not None else 404
    )


@login_required
def checkout_cancel(request):
    return render(request, "billing/cancel.html", {"page_title": "Checkout canceled"})
