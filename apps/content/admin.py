"""The moderation panel: Django admin over the content library.

A queue (pending and reported items) and the full library, with thumbnails, an inline player,
filters (status, reported, visibility, persona, user) and bulk actions: approve, reject with a
reason, refund the generation's credits (once), suspend or reinstate the owner's publishing.
Every action goes through apps.content.services, which records it (who, when, why) in the
ModerationAction log; the log, the reports and the items' fields are read-only here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Exists, OuterRef
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError

from .models import ContentItem, ModerationAction, ModerationQueueItem, Report
from .selectors import NEEDS_REVIEW_Q
from .serializers import content_media_url
from .services import (
    content_approve,
    content_refund,
    content_reject,
    user_publishing_reinstate,
    user_publishing_suspend,
)


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="Recorded in the moderation log with your name; a rejected video's owner sees it.",
    )


class ReportedFilter(admin.SimpleListFilter):
    title = "reported"
    parameter_name = "reported"

    def lookups(self, request, model_admin):
        return (
            ("open", "Reported, waiting for review"),
            ("any", "Reported at least once"),
            ("never", "Never reported"),
        )

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(flagged_at__isnull=False)
        if self.value() == "any":
            return queryset.filter(Exists(Report.objects.filter(item=OuterRef("pk"))))
        if self.value() == "never":
            return queryset.filter(~Exists(Report.objects.filter(item=OuterRef("pk"))))
        return queryset


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ReportInline(_ReadOnlyInline):
    model = Report
    fields = ("created_at", "reporter", "reason")
    readonly_fields = fields


class ModerationActionInline(_ReadOnlyInline):
    model = ModerationAction
    fk_name = "item"
    fields = ("created_at", "action", "actor", "reason", "details")
    readonly_fields = fields


@admin.register(ContentItem)
class ContentItemAdmin(admin.ModelAdmin):
    list_display = (
        "thumbnail",
        "title_or_id",
        "owner",
        "persona",
        "visibility",
        "moderation_status",
        "reports_count",
        "in_queue",
        "created_at",
    )
    list_display_links = ("thumbnail", "title_or_id")
    list_filter = (
        "moderation_status",
        ReportedFilter,
        "visibility",
        ("persona", admin.RelatedOnlyFieldListFilter),
        ("owner", admin.RelatedOnlyFieldListFilter),
        "owner__can_publish",
    )
    search_fields = ("id", "title", "owner__username", "generation__prompt")
    list_select_related = ("owner", "persona", "generation")
    date_hierarchy = "created_at"
    list_per_page = 50
    fields = (
        "player",
        "title",
        "owner",
        "owner_can_publish",
        "persona",
        "generation_link",
        "prompt",
        "visibility",
        "moderation_status",
        "reports_count",
        "flagged_at",
        "moderated_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (ReportInline, ModerationActionInline)
    actions = (
        "approve_items",
        "reject_items",
        "refund_items",
        "suspend_owners",
        "reinstate_owners",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Removing a video is a rejection (recorded), not a deletion.
        return False

    # --- columns and fields -------------------------------------------------------------------

    @admin.display(description="Preview")
    def thumbnail(self, obj: ContentItem) -> str:
        url = content_media_url(obj, "thumbnail")
        if not url:
            return "—"
        return format_html(
            '<img src="{}" alt="" loading="lazy" width="120" style="border-radius:4px">', url
        )

    @admin.display(description="Title", ordering="title")
    def title_or_id(self, obj: ContentItem) -> str:
        return str(obj)

    @admin.display(description="In queue", boolean=True)
    def in_queue(self, obj: ContentItem) -> bool:
        return obj.needs_review

    @admin.display(description="Video")
    def player(self, obj: ContentItem) -> str:
        video = content_media_url(obj, "video")
        if not video:
            return "—"
        return format_html(
            '<video controls playsinline preload="metadata" src="{}" poster="{}" '
            'style="max-width:560px;width:100%;background:#000;border-radius:4px"></video>',
            video,
            content_media_url(obj, "thumbnail") or "",
        )

    @admin.display(description="Owner may publish", boolean=True)
    def owner_can_publish(self, obj: ContentItem) -> bool:
        return obj.owner.can_publish

    @admin.display(description="Generation")
    def generation_link(self, obj: ContentItem) -> str:
        url = reverse("admin:generation_generation_change", args=[obj.generation_id])
        return format_html('<a href="{}">{}</a>', url, obj.generation_id)

    @admin.display(description="Prompt")
    def prompt(self, obj: ContentItem) -> str:
        return obj.generation.params.get("final_prompt") or obj.generation.prompt or "—"

    # --- actions ------------------------------------------------------------------------------

    def _reason(self, request, queryset, *, action: str, title: str, button: str):
        """The reason for a bulk action: the cleaned text, or the intermediate page asking it."""
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            return form.cleaned_data["reason"]
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "button": button,
            "form": form,
            "queryset": queryset,
            "action": action,
            "opts": self.model._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "content/admin/reason.html", context)

    @admin.action(description="Approve selected videos")
    def approve_items(self, request, queryset):
        for item in queryset:
            content_approve(item=item, actor=request.user, reason="Approved in the admin.")
        self.message_user(request, f"Approved {len(queryset)} video(s).", messages.SUCCESS)

    @admin.action(description="Reject selected videos (with a reason)…")
    def reject_items(self, request, queryset):
        reason = self._reason(
            request, queryset, action="reject_items", title="Reject videos", button="Reject"
        )
        if not isinstance(reason, str):
            return reason
        for item in queryset:
            content_reject(item=item, actor=request.user, reason=reason)
        self.message_user(request, f"Rejected {len(queryset)} video(s).", messages.SUCCESS)
        return None

    @admin.action(description="Refund the credits of the selected videos (once)…")
    def refund_items(self, request, queryset):
        reason = self._reason(
            request,
            queryset,
            action="refund_items",
            title="Refund the generations' credits",
            button="Refund",
        )
        if not isinstance(reason, str):
            return reason
        refunded, credits, skipped = 0, 0, 0
        for item in queryset.select_related("generation"):
            try:
                entry = content_refund(item=item, actor=request.user, reason=reason)
            except ApplicationError:
                skipped += 1
                continue
            refunded += 1
            credits += entry.amount
        self.message_user(
            request, f"Refunded {refunded} video(s), {credits} credit(s).", messages.SUCCESS
        )
        if skipped:
            self.message_user(
                request, f"{skipped} video(s) were already refunded: skipped.", messages.WARNING
            )
        return None

    @admin.action(description="Suspend the owners of the selected videos from publishing…")
    def suspend_owners(self, request, queryset):
        reason = self._reason(
            request,
            queryset,
            action="suspend_owners",
            title="Suspend owners from publishing",
            button="Suspend",
        )
        if not isinstance(reason, str):
            return reason
        done = 0
        seen = set()
        for item in queryset.select_related("owner"):
            if item.owner_id in seen:
                continue
            seen.add(item.owner_id)
            done += user_publishing_suspend(
                user=item.owner, actor=request.user, reason=reason, item=item
            )
        self.message_user(
            request,
            f"Suspended {done} user(s) from publishing; their shared videos are private now.",
            messages.SUCCESS,
        )
        return None

    @admin.action(description="Reinstate publishing for the owners of the selected videos")
    def reinstate_owners(self, request, queryset):
        owners = {item.owner_id: item.owner for item in queryset.select_related("owner")}
        done = sum(
            user_publishing_reinstate(user=owner, actor=request.user, reason="Reinstated.")
            for owner in owners.values()
        )
        self.message_user(request, f"Reinstated {done} user(s).", messages.SUCCESS)


@admin.register(ModerationQueueItem)
class ModerationQueueAdmin(ContentItemAdmin):
    """Pending and reported videos, oldest first: what is waiting for a decision."""

    def get_queryset(self, request):
        return (
            ModerationQueueItem.objects.filter(NEEDS_REVIEW_Q)
            .select_related("owner", "persona", "generation")
            .order_by("created_at", "id")
        )


class _LogAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModerationAction)
class ModerationActionAdmin(_LogAdmin):
    list_display = ("created_at", "action", "actor", "subject", "reason")
    list_filter = ("action", ("actor", admin.RelatedOnlyFieldListFilter))
    search_fields = ("subject", "reason", "actor__username", "target_user__username")
    list_select_related = ("actor",)
    date_hierarchy = "created_at"


@admin.register(Report)
class ReportAdmin(_LogAdmin):
    list_display = ("created_at", "item", "reporter", "reason")
    search_fields = ("reason", "reporter__username", "item__title")
    list_select_related = ("item", "reporter")
    date_hierarchy = "created_at"
