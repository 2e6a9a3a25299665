"""The content item's public shape (ARCHITECTURE.md contract) and strict inputs."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from apps.core.parsers import no_bidi_controls
from apps.generation.serializers import StrictSerializer

from .models import ContentItem, ModerationAction, Report


def content_media_url(item: ContentItem, name: str, request=None) -> str | None:
    """The access-checked URL of an item's `video` or `thumbnail` (None when it has none)."""
    if not getattr(item.generation, name):
        return None
    path = reverse("content:media", kwargs={"pk": item.pk, "name": name})
    return request.build_absolute_uri(path) if request else path


class ContentItemOutputSerializer(serializers.ModelSerializer):
    generation = serializers.UUIDField(source="generation_id", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    persona = serializers.UUIDField(source="persona_id", read_only=True, allow_null=True)
    video_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    share_url = serializers.SerializerMethodField()
    removed = serializers.BooleanField(source="is_removed", read_only=True)

    class Meta:
        model = ContentItem
        fields = (
            "id",
            "generation",
            "title",
            "visibility",
            "moderation_status",
            "removed",
            "video_url",
            "thumbnail_url",
            "share_url",
            "owner",
            "persona",
            "created_at",
        )
        read_only_fields = fields

    def get_video_url(self, obj: ContentItem) -> str | None:
        return content_media_url(obj, "video", self.context.get("request"))

    def get_thumbnail_url(self, obj: ContentItem) -> str | None:
        return content_media_url(obj, "thumbnail", self.context.get("request"))

    def get_share_url(self, obj: ContentItem) -> str:
        path = reverse("content:share", kwargs={"pk": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ContentItemUpdateSerializer(StrictSerializer):
    title = serializers.CharField(
        max_length=ContentItem._meta.get_field("title").max_length,
        required=False,
        allow_blank=True,
        validators=[no_bidi_controls],
    )
    visibility = serializers.ChoiceField(choices=ContentItem.Visibility.choices, required=False)


class ReportInputSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=1000)


class ReportOutputSerializer(serializers.ModelSerializer):
    item = serializers.UUIDField(source="item_id", read_only=True)

    class Meta:
        model = Report
        fields = ("id", "item", "reason", "created_at")
        read_only_fields = fields


class ModerateInputSerializer(StrictSerializer):
    action = serializers.ChoiceField(
        choices=[
            ModerationAction.Action.APPROVE,
            ModerationAction.Action.REJECT,
            ModerationAction.Action.REFUND,
            ModerationAction.Action.SUSPEND,
        ]
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
