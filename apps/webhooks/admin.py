from django.contrib import admin

from .models import WebhookAttempt, WebhookDelivery, WebhookSecret


@admin.register(WebhookSecret)
class WebhookSecretAdmin(admin.ModelAdmin):
    list_display = ("user", "created_at", "updated_at")
    search_fields = ("user__username", "user__email")
    readonly_fields = ("user", "created_at", "updated_at")
    exclude = ("key",)  # the secret is the user's; staff see when it changed, not what it is


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("attempt", "status_code", "succeeded", "error", "created_at")
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ("generation", "event", "sequence", "status", "attempts", "created_at")
    list_filter = ("event", "status")
    search_fields = ("generation__id", "url")
    readonly_fields = (
        "generation",
        "event",
        "sequence",
        "url",
        "body",
        "status",
        "attempts",
        "created_at",
        "finished_at",
    )
    inlines = [WebhookAttemptInline]
