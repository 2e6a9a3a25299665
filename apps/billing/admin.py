"""Staff tools: credit packs, purchases and Stripe events, accounts with a paginated ledger and a
"grant credits" form (an `adjustment` entry with a note and the staff member who made it).

Ledger entries are never edited or deleted here; a correction is a new adjustment.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError

from .models import CreditAccount, CreditPack, LedgerEntry, Purchase, StripeEvent
from .services import credits_adjust

LEDGER_PAGE_SIZE = 50


class GrantCreditsForm(forms.Form):
    amount = forms.IntegerField(
        help_text="Credits to add. A negative number takes credits back (never below zero)."
    )
    note = forms.CharField(
        max_length=400, help_text="Why: shown to the user in their ledger and kept for audit."
    )
    # A fresh token per rendered form: submitting the same form twice grants once.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter a number of credits other than zero.")
        return amount


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ("user", "balance", "debt", "updated_at", "staff_links")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "balance", "debt", "staff_links", "created_at", "updated_at")
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Ledger / grant")
    def staff_links(self, obj: CreditAccount) -> str:
        if obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Ledger</a> · <a href="{}">Grant credits</a>',
            reverse("admin:billing_creditaccount_ledger", args=[obj.pk]),
            reverse("admin:billing_creditaccount_grant", args=[obj.pk]),
        )

    def get_urls(self):
        own = [
            path(
                "<int:object_id>/ledger/",
                self.admin_site.admin_view(self.ledger_view),
                name="billing_creditaccount_ledger",
            ),
            path(
                "<int:object_id>/grant/",
                self.admin_site.admin_view(self.grant_view),
                name="billing_creditaccount_grant",
            ),
        ]
        return own + super().get_urls()

    def _account(self, object_id) -> CreditAccount:
        account = CreditAccount.objects.select_related("user").filter(pk=object_id).first()
        if account is None:
            raise Http404("No such credit account.")
        return account

    def _context(self, request, account: CreditAccount, title: str) -> dict:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": account,
            "account": account,
            "title": title,
        }

    def ledger_view(self, request, object_id):
        account = self._account(object_id)
        if not self.has_view_permission(request, account):
            raise PermissionDenied
        entries = account.entries.select_related("created_by").order_by("-created_at", "-id")
        page = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
        context = {
            **self._context(request, account, f"Ledger of {account.user}"),
            "page": page,
            "entries": page.object_list,
            "can_grant": self.has_change_permission(request, account),
        }
        return TemplateResponse(request, "billing/admin/ledger.html", context)

    def grant_view(self, request, object_id):
        account = self._account(object_id)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        if request.method == "POST":
            form = GrantCreditsForm(request.POST)
            if form.is_valid():
                try:
                    entry = credits_adjust(
                        user=account.user,
                        amount=form.cleaned_data["amount"],
                        note=form.cleaned_data["note"],
                        created_by=request.user,
                        reference=f"admin:{form.cleaned_data['token']}",
                    )
                except ApplicationError as exc:
                    form.add_error("amount", exc.message)
                else:
                    if entry is None:
                        self.message_user(
                            request, "This grant was already applied.", messages.WARNING
                        )
                    else:
                        self.message_user(
                            request,
                            f"Adjusted {account.user}'s credits by {entry.amount:+d}; "
                            f"the balance is now {entry.balance_after}.",
                            messages.SUCCESS,
                        )
                    return HttpResponseRedirect(
                        reverse("admin:billing_creditaccount_ledger", args=[account.pk])
                    )
        else:
            form = GrantCreditsForm(initial={"token": uuid.uuid4()})
        context = {
            **self._context(request, account, f"Grant credits to {account.user}"),
            "form": form,
        }
        return TemplateResponse(request, "billing/admin/grant.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "account", "kind", "amount", "balance_after", "reference")
    list_filter = ("kind",)
    search_fields = ("reference", "account__user__username", "note")
    list_select_related = ("account__user",)
    readonly_fields = [f.name for f in LedgerEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "credits",
        "price_cents",
        "currency",
        "active",
        "sort_order",
        "stripe_price_id",
    )
    list_editable = ("active", "sort_order")
    list_filter = ("active",)
    fields = (
        "name",
        "credits",
        "price_cents",
        "currency",
        "stripe_price_id",
        "active",
        "sort_order",
    )

    def has_delete_permission(self, request, obj=None) -> bool:
        # A pack that was bought stays (its purchases point at it): deactivate it instead.
        if obj is not None and obj.purchases.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "created_at",
        "user",
        "pack",
        "credits",
        "amount_cents",
        "currency",
        "status",
        "amount_refunded_cents",
        "credits_clawed_back",
    )
    list_filter = ("status", "currency")
    search_fields = (
        "user__username",
        "user__email",
        "stripe_session_id",
        "stripe_payment_intent_id",
    )
    list_select_related = ("user", "pack")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Purchase._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StripeEvent)
class StripeEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_id", "type", "outcome")
    list_filter = ("type",)
    search_fields = ("event_id", "outcome")
    readonly_fields = [f.name for f in StripeEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
