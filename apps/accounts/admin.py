from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "is_staff", "can_publish", "date_joined")
    list_filter = BaseUserAdmin.list_filter + ("can_publish",)
    fieldsets = BaseUserAdmin.fieldsets + (
        ("Platform", {"fields": ("can_publish",)}),
        ("Limits", {"fields": ("max_active_generations", "daily_spend_limit")}),
    )
