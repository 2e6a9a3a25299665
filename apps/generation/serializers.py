"""Strict input parsing per kind, and the Generation's public shape (ARCHITECTURE.md contract)."""

from __future__ import annotations

import json

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.personas.models import Persona

from .models import Generation
from .selectors import generation_eta_seconds, generation_queue_position

SEED_MAX = 2**32 - 1


class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not know, so a typo is an error rather than a silent default."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown parameter."] for key in unknown})
        return super().to_internal_value(data)


def _size_field(default: int) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=64, max_value=1920, default=default)


class _SizeMixin(StrictSerializer):
    def validate(self, attrs):
        for side in ("width", "height"):
            if attrs[side] % 8:
                raise serializers.ValidationError({side: ["Must be a multiple of 8."]})
        return attrs


class ImageToVideoParamsSerializer(_SizeMixin):
    motion_strength = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.5)
    fps = serializers.IntegerField(min_value=1, max_value=30, default=7)
    num_frames = serializers.IntegerField(min_value=2, max_value=120, default=25)
    num_inference_steps = serializers.IntegerField(min_value=1, max_value=100, default=25)
    noise_aug_strength = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.02)
    min_guidance_scale = serializers.FloatField(min_value=0.0, max_value=20.0, default=1.0)
    max_guidance_scale = serializers.FloatField(min_value=0.0, max_value=20.0, default=3.0)
    decode_chunk_size = serializers.IntegerField(min_value=1, max_value=25, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    width = _size_field(1024)
    height = _size_field(576)


class TextToVideoParamsSerializer(_SizeMixin):
    num_frames = serializers.IntegerField(min_value=2, max_value=120, default=24)
    num_inference_steps = serializers.IntegerField(min_value=1, max_value=100, required=False)
    guidance_scale = serializers.FloatField(min_value=1.0, max_value=30.0, default=9.0)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    quality = serializers.ChoiceField(choices=["fast", "high"], default="fast")
    enhance_prompt = serializers.BooleanField(default=True)
    fps = serializers.IntegerField(min_value=1, max_value=30, default=8)
    width = _size_field(576)
    height = _size_field(320)


PARAMS_SERIALIZERS = {
    Generation.Kind.IMAGE_TO_VIDEO: ImageToVideoParamsSerializer,
    Generation.Kind.TEXT_TO_VIDEO: TextToVideoParamsSerializer,
}


@extend_schema_field(OpenApiTypes.OBJECT)
class JSONObjectField(serializers.Field):
    """A JSON object given inline (JSON body) or as a JSON string (multipart form field)."""

    default_error_messages = {
        "invalid": "Must be a JSON object.",
    }

    def to_internal_value(self, data):
        if isinstance(data, str):
            if not data.strip():
                return {}
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


class GenerationCreateInputSerializer(StrictSerializer):
    kind = serializers.ChoiceField(choices=Generation.Kind.choices)
    engine = serializers.ChoiceField(choices=Generation.Engine.choices, default="auto")
    prompt = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    negative_prompt = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, default=""
    )
    params = JSONObjectField(required=False, default=dict)
    image = serializers.FileField(required=False, allow_empty_file=True)
    persona = serializers.UUIDField(required=False, allow_null=True, default=None)

    def validate_persona(self, value):
        if value is None:
            return None
        user = self.context["request"].user
        persona = Persona.objects.filter(user=user, pk=value).first()
        if persona is None:
            raise serializers.ValidationError("No such persona.")
        return persona

    def validate(self, attrs):
        kind = attrs["kind"]
        if kind == Generation.Kind.STORYBOARD:
            raise serializers.ValidationError(
                {"kind": ["Storyboards are not available on this server yet."]}
            )
        persona = attrs.get("persona")
        params_serializer = PARAMS_SERIALIZERS[kind]
        raw = dict(attrs.get("params") or {})
        if persona is not None:
            # The persona's defaults fill what the request leaves unset.
            known = params_serializer().fields
            raw = {**{k: v for k, v in persona.defaults.items() if k in known}, **raw}
        params = params_serializer(data=raw)
        if not params.is_valid():
            raise serializers.ValidationError({"params": params.errors})
        attrs["params"] = dict(params.validated_data)
        if kind == Generation.Kind.IMAGE_TO_VIDEO:
            if not attrs.get("image") and not (persona and persona.reference_image):
                raise serializers.ValidationError(
                    {"image": ["An image (or a persona with a reference image) is required."]}
                )
        else:
            if attrs.get("image"):
                raise serializers.ValidationError({"image": ["text_to_video takes no image."]})
            if not attrs["prompt"].strip():
                raise serializers.ValidationError(
                    {"prompt": ["A prompt is required for text_to_video."]}
                )
        return attrs


class GenerationOutputSerializer(serializers.ModelSerializer):
    persona = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()
    video_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = Generation
        fields = (
            "id",
            "kind",
            "engine",
            "engine_requested",
            "status",
            "stage",
            "progress",
            "step",
            "total_steps",
            "queue_position",
            "eta_seconds",
            "prompt",
            "negative_prompt",
            "params",
            "persona",
            "cost_credits",
            "seed",
            "error",
            "notes",
            "video_url",
            "thumbnail_url",
            "width",
            "height",
            "fps",
            "num_frames",
            "duration_seconds",
            "created_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields

    def get_persona(self, obj: Generation) -> str | None:
        return str(obj.persona_id) if obj.persona_id else None

    def get_queue_position(self, obj: Generation) -> int | None:
        return generation_queue_position(generation=obj)

    def get_eta_seconds(self, obj: Generation) -> float | None:
        return generation_eta_seconds(generation=obj)

    def _media_url(self, obj: Generation, name: str) -> str | None:
        if not getattr(obj, name):
            return None
        path = reverse("generation-media", kwargs={"pk": obj.pk, "name": name})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path

    def get_video_url(self, obj: Generation) -> str | None:
        return self._media_url(obj, "video")

    def get_thumbnail_url(self, obj: Generation) -> str | None:
        return self._media_url(obj, "thumbnail")
