"""The serializers every app's API shares: strict input, and the one error body."""

from __future__ import annotations

import copy

from django.utils.functional import Promise
from rest_framework import serializers

NUMBER_FIELDS = (serializers.IntegerField, serializers.FloatField, serializers.DecimalField)
# Values a copy may share: immutable ones (a lazy translation is a string to be).
_SHARED = (type(None), str, bytes, int, float, bool, tuple, frozenset, type, Promise)
_CONTAINERS = (list, dict, set)
_plans: dict[int, tuple] = {}  # id(prototype) -> (prototype, plan): it stays alive, its id unique


def _plan(field: serializers.Field) -> tuple | None:
    """Which attributes of `field` a copy must copy (the lists, dicts and sets), or None when
    the field must be copied DRF's way (see `fresh_field`)."""
    cls = type(field)
    if (
        isinstance(field, serializers.BaseSerializer)
        or cls.__deepcopy__ is not serializers.Field.__deepcopy__
        or field.parent is not None
    ):
        return None
    copied = []
    for key, value in vars(field).items():
        if key in ("_args", "_kwargs"):
            continue  # the arguments it was made with: read only by repr and DRF's deepcopy
        if key in ("default", "initial"):
            if isinstance(value, _SHARED) or callable(value):
                continue
            return None  # a mutable default: each copy needs its own, as DRF deep-copies it
        if isinstance(value, _CONTAINERS):
            items = value.values() if isinstance(value, dict) else value
            if any(isinstance(item, (serializers.Field, *_CONTAINERS)) for item in items):
                return None
            copied.append(key)
        elif isinstance(value, serializers.Field) or not (
            isinstance(value, _SHARED) or callable(value)
        ):
            return None  # another field, a queryset, a pattern...: not for sharing
    return tuple(copied)


def fresh_field(field: serializers.Field) -> serializers.Field:
    """An unbound copy of the unbound prototype `field` for one serializer instance.

    DRF's own copy (`Field.__deepcopy__`) builds the field again from its arguments, which runs
    its `__init__` again (the error messages merged along the class's MRO, new validator
    objects) for every field of every serializer instance. A plain field's state is its
    attribute dict, so a copy of that dict, with its own copy of each list, dict and set in it
    (validators, error messages, choices, style), is an independent field that `bind()` sets
    up for its own serializer; the validators themselves are shared, as DRF's copy shares them.
    A field that holds anything else (a nested serializer, a list or dict field's child, a
    related field's queryset, a regex, a mutable default or initial value) or whose class
    copies itself its own way is copied DRF's way. The prototype must never be bound or
    changed: the declared fields of a serializer class, or `CachedFieldsMixin`'s."""
    try:
        plan = _plans[id(field)][1]
    except KeyError:
        plan = _plan(field)
        _plans[id(field)] = (field, plan)
    if plan is None:
        return copy.deepcopy(field)
    clone = object.__new__(type(field))
    state = clone.__dict__
    state.update(vars(field))
    for name in plan:
        state[name] = copy.copy(state[name])
    return clone


class CachedFieldsMixin:
    """For a ModelSerializer whose fields depend only on its class (its Meta and declared
    fields, never on the instance, the context or the request): builds them from the model
    once per class, then gives each instance `fresh_field` copies instead of running
    ModelSerializer's field building (model introspection, a new field per model field) on
    every instantiation."""

    _cached_field_prototypes: dict | None = None

    def get_fields(self):
        cls = type(self)
        prototypes = cls.__dict__.get("_cached_field_prototypes")
        if prototypes is None:
            prototypes = super().get_fields()
            cls._cached_field_prototypes = prototypes
        return {name: fresh_field(field) for name, field in prototypes.items()}


class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not know, so a typo is an error rather than a silent default.

    The schema says so too: its request components carry `additionalProperties: false`
    (apps.core.schema).

    Its fields are copied per instance with `fresh_field`, not rebuilt (DRF's deepcopy)."""

    def get_fields(self):
        return {name: fresh_field(field) for name, field in self._declared_fields.items()}

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
