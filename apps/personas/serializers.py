"""Persona input (strict, with validated generation defaults) and the Persona's public shape."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.parsers import no_bidi_controls
from apps.core.serializers import NUMBER_FIELDS
from apps.generation.serializers import (
    JSONObjectField,
    StrictSerializer,
    quote_param_fields,
)

from .models import Persona


def _param_fields() -> dict[str, serializers.Field]:
    """The generation parameters a persona may preset: those of every kind, with their rules
    (a choice takes any kind's value: `quality` is standard or turbo for image-to-video, fast
    or high for text-to-video; each job applies the defaults its kind takes)."""
    return quote_param_fields()


def validate_defaults(value: dict) -> dict:
    """Each key must be a generation parameter, each value valid for it (same rules as create)."""
    fields = _param_fields()
    errors: dict[str, list[str]] = {}
    clean = {}
    for key, raw in value.items():
        field = fields.get(key)
        if field is None:
            errors[key] = [f"Unknown parameter; use one of: {', '.join(fields)}."]
            continue
        # As StrictSerializer: no JSON boolean for a number, no number for a boolean.
        if isinstance(field, NUMBER_FIELDS) and isinstance(raw, bool):
            errors[key] = ["A valid number is required."]
            continue
        if isinstance(field, serializers.BooleanField) and type(raw) in (int, float):
            errors[key] = ["Must be a valid boolean."]
            continue
        try:
            clean[key] = field.run_validation(raw)
        except serializers.ValidationError as exc:
            errors[key] = list(exc.detail) if isinstance(exc.detail, list) else [str(exc.detail)]
            continue
        if key in ("width", "height") and clean[key] % 8:
            errors[key] = ["Must be a multiple of 8."]
    if errors:
        raise serializers.ValidationError(errors)
    return clean


class PersonaDefaultsSerializer(StrictSerializer):
    """The schema of `defaults`: any generation parameter, each with its rules."""

    def get_fields(self):
        return quote_param_fields()


@extend_schema_field(PersonaDefaultsSerializer)
class DefaultsField(JSONObjectField):
    """Generation parameters: a JSON object (a JSON string in multipart requests)."""


class PersonaInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=80, validators=[no_bidi_controls])
    description = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    style = serializers.CharField(max_length=300, required=False, allow_blank=True)
    defaults = DefaultsField(required=False)
    # A JPEG, PNG or WebP upload (multipart); null in a JSON PATCH removes the image.
    reference_image = serializers.FileField(required=False, allow_null=True, allow_empty_file=True)

    def validate_name(self, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise serializers.ValidationError("A name is required.")
        return value

    def validate_defaults(self, value: dict) -> dict:
        return validate_defaults(value)


class PersonaOutputSerializer(serializers.ModelSerializer):
    reference_image = serializers.SerializerMethodField()

    class Meta:
        model = Persona
        fields = (
            "id",
            "name",
            "description",
            "style",
            "reference_image",
            "defaults",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_reference_image(self, obj: Persona) -> str | None:
        if not obj.reference_image:
            return None
        path = reverse("personas:reference_image", kwargs={"pk": obj.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class PersonaDraftInputSerializer(StrictSerializer):
    image = serializers.FileField(allow_empty_file=True)


class PersonaDraftOutputSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    style = serializers.CharField()
    palette = serializers.ListField(child=serializers.CharField())
    source = serializers.ChoiceField(choices=["gemini", "local"])
    notes = serializers.CharField()
