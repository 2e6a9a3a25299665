"""The serializers every app's API shares: strict input, and the one error body."""

from __future__ import annotations

from rest_framework import serializers

NUMBER_FIELDS = (serializers.IntegerField, serializers.FloatField, serializers.DecimalField)


class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not know, so a typo is an error rather than a silent default.

    The schema says so too: its request components carry `additionalProperties: false`
    (apps.core.schema)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({key: ["Unknown parameter."] for key in unknown})
        # DRF turns a JSON number into text; the schema says a string, so a number is refused.
        numbers = sorted(
            name
            for name, field in self.fields.items()
            if isinstance(field, serializers.CharField) and isinstance(data.get(name), int | float)
        )
        if numbers:
            raise serializers.ValidationError({key: ["Not a valid string."] for key in numbers})
        # And a JSON true/false where it says a number (Python counts a bool as an int).
        flags = sorted(
            name
            for name, field in self.fields.items()
            if isinstance(field, NUMBER_FIELDS) and isinstance(data.get(name), bool)
        )
        if flags:
            raise serializers.ValidationError(
                {key: ["A valid number is required."] for key in flags}
            )
        # And a number where it says a boolean (DRF would read 1 and 0 as true and false).
        numbers = sorted(
            name
            for name, field in self.fields.items()
            if isinstance(field, serializers.BooleanField)
            and isinstance(data.get(name), int | float)
            and not isinstance(data.get(name), bool)
        )
        if numbers:
            raise serializers.ValidationError(
                {key: ["Must be a valid boolean."] for key in numbers}
            )
        return super().to_internal_value(data)


class ErrorSerializer(serializers.Serializer):
    """Every API error: a message and a code; a 400 adds each field's errors beside them
    (`{"detail": "prompt: ...", "code": "invalid", "prompt": ["..."]}`)."""

    detail = serializers.CharField()
    code = serializers.CharField()
