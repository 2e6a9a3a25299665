from django.contrib import admin

from .models import Persona


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "style", "created_at")
    search_fields = ("name", "description", "style", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("id", "user", "created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False
