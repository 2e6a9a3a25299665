from django.contrib import admin, messages

from .models import Generation, StoryboardScene
from .services import generation_cancel, generation_mark_failed


class StoryboardSceneInline(admin.TabularInline):
    model = StoryboardScene
    fields = (
        "index",
        "status",
        "kind",
        "engine",
        "prompt",
        "duration",
        "transition",
        "attempts",
        "retries",
        "cost_credits",
        "charge_reference",
        "error",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "kind",
        "engine",
        "status",
        "stage",
        "progress",
        "cost_credits",
        "created_at",
    )
    list_filter = ("status", "kind", "engine", "queue")
    search_fields = ("id", "user__username", "prompt")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    readonly_fields = [f.name for f in Generation._meta.fields]
    actions = ("cancel_generations", "fail_and_refund")
    inlines = (StoryboardSceneInline,)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Cancel (refunds queued/running jobs once)")
    def cancel_generations(self, request, queryset):
        done = 0
        for generation in queryset.filter(status__in=Generation.ACTIVE):
            generation_cancel(generation=generation)
            done += 1
        self.message_user(request, f"Canceled {done} generation(s).", messages.SUCCESS)

    @admin.action(description="Fail and refund (stuck jobs)")
    def fail_and_refund(self, request, queryset):
        done = sum(
            generation_mark_failed(
                generation_id=g.pk, error="Stopped by staff.", reason="stopped by staff"
            )
            for g in queryset.filter(status__in=Generation.ACTIVE)
        )
        self.message_user(request, f"Failed and refunded {done} generation(s).", messages.SUCCESS)
