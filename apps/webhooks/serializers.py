from __future__ import annotations

from rest_framework import serializers

from .models import WebhookAttempt, WebhookSecret


class WebhookSecretOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookSecret
        fields = ("key", "created_at", "updated_at")
        read_only_fields = fields


class WebhookAttemptOutputSerializer(serializers.ModelSerializer):
    event = serializers.CharField(source="delivery.event")
    webhook_id = serializers.CharField(source="delivery.message_id")
    url = serializers.CharField(source="delivery.url")
    delivery_status = serializers.CharField(source="delivery.status")

    class Meta:
        model = WebhookAttempt
        fields = (
            "event",
            "webhook_id",
            "url",
            "attempt",
            "status_code",
            "succeeded",
            "error",
            "delivery_status",
            "created_at",
        )
        read_only_fields = fields
