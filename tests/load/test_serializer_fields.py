"""Serializer fields copied per instance (apps.core.serializers.fresh_field) instead of rebuilt
by DRF's deepcopy: each instance still gets fields of its own, bound to it, that validate and
represent exactly as DRF's copies do; what cannot be copied that way is copied DRF's way."""

from __future__ import annotations

import copy

import pytest
from rest_framework import serializers

from apps.core.serializers import CachedFieldsMixin, StrictSerializer, fresh_field
from apps.generation.models import Generation
from apps.generation.serializers import (
    GenerationCreateInputSerializer,
    GenerationOutputSerializer,
    StoryboardSceneInputSerializer,
    TextToVideoParamsSerializer,
)

STRICT = (
    GenerationCreateInputSerializer,
    TextToVideoParamsSerializer,
    StoryboardSceneInputSerializer,
)


def _drf_copy(cls):
    """`cls` with DRF's own field copies, to compare against."""
    return type(f"Drf{cls.__name__}", (cls,), {"get_fields": serializers.Serializer.get_fields})


def _state(field):
    # Validator objects are new in DRF's copy and shared in ours: compare them by what they are.
    # The creation counter only orders a class's declared fields (ours keeps the prototype's).
    return {
        key: [
            (type(v), {k: str(x) for k, x in vars(v).items() if not k.startswith("_")})
            for v in value
        ]
        if key == "_validators"
        else value
        for key, value in vars(field).items()
        if key != "_creation_counter"
    }


@pytest.mark.parametrize("cls", STRICT)
def test_each_field_is_a_copy_with_the_same_state_as_drfs(cls):
    for name, prototype in cls._declared_fields.items():
        ours, drfs = fresh_field(prototype), copy.deepcopy(prototype)
        assert type(ours) is type(prototype) and ours is not prototype, name
        assert _state(ours) == _state(drfs), name
        assert repr(ours) == repr(drfs), name
        for key, value in vars(ours).items():
            if isinstance(value, list | dict | set) and key not in ("_args", "_kwargs"):
                assert value is not vars(prototype)[key], (name, key)


def test_instances_get_their_own_bound_fields_and_the_prototypes_stay_unbound():
    first, second = TextToVideoParamsSerializer(), TextToVideoParamsSerializer()
    a, b = first.fields["num_frames"], second.fields["num_frames"]
    assert a is not b
    assert a.parent is first and b.parent is second and a.field_name == "num_frames"
    a.error_messages["max_value"] = "changed"
    a.validators.append(lambda value: None)
    assert b.error_messages["max_value"] != "changed"
    assert len(b.validators) == len(a.validators) - 1
    prototype = TextToVideoParamsSerializer._declared_fields["num_frames"]
    assert prototype.parent is None and prototype.field_name is None
    assert prototype.error_messages["max_value"] != "changed"


class _Odd(StrictSerializer):
    tags = serializers.JSONField(default={"a": [1]})  # a mutable default: DRF deep-copies it
    items = serializers.ListField(child=serializers.IntegerField(min_value=0))  # holds a field
    code = serializers.RegexField(r"^[a-z]+$")  # a compiled pattern
    nested = TextToVideoParamsSerializer(required=False)  # a serializer


def test_what_cannot_be_shared_is_copied_drfs_way():
    first, second = _Odd(), _Odd()
    assert first.fields["tags"].default is not second.fields["tags"].default
    assert first.fields["items"].child is not second.fields["items"].child
    assert first.fields["items"].child.parent is first.fields["items"]
    assert first.fields["nested"] is not second.fields["nested"]
    assert first.fields["nested"].fields["fps"].parent is first.fields["nested"]
    data = {"items": [1, 2], "code": "abc", "nested": {"num_frames": 8}}
    checked = _Odd(data=data)
    assert checked.is_valid(), checked.errors
    assert checked.validated_data["tags"] == {"a": [1]}
    bad = _Odd(data={"items": [-1], "code": "ABC"})
    assert not bad.is_valid()
    assert set(bad.errors) == {"items", "code"}


BAD_AND_GOOD = [
    {},
    {"num_frames": 8, "width": 256, "height": 256, "fps": 8, "enhance_prompt": False},
    {"num_frames": 1},
    {"num_frames": "x", "guidance_scale": True},
    {"quality": "nope", "seed": -1},
    {"enhance_prompt": 1, "fps": 31},
    {"width": 17, "height": 100000},
    {"typo": 1},
    {"prompt": 5, "duration": 0.1, "transition": "spin"},
    {"prompt": "a cat", "duration": 4, "image": None},
    {"kind": "text_to_video", "prompt": "x" * 2001},
    {"kind": "bogus", "engine": "auto", "prompt": "a cat"},
    [1, 2],
]


# The create's own validate() reads the request (the user): only bodies its fields refuse.
CASES = [
    (cls, data)
    for cls in STRICT
    for data in BAD_AND_GOOD
    if cls is not GenerationCreateInputSerializer or not isinstance(data, dict) or "kind" in data
]


@pytest.mark.parametrize(("cls", "data"), CASES)
def test_validation_is_the_same_as_with_drfs_copies(cls, data):
    ours, drfs = cls(data=data), _drf_copy(cls)(data=data)
    assert ours.is_valid() == drfs.is_valid()
    assert ours.errors == drfs.errors
    if not ours.errors:
        assert ours.validated_data == drfs.validated_data


class _PlainOutput(GenerationOutputSerializer):
    """The output serializer with ModelSerializer's own field building, for comparison."""

    def get_fields(self):
        return serializers.ModelSerializer.get_fields(self)


@pytest.mark.django_db
def test_cached_model_serializer_fields_represent_a_job_as_the_plain_one_does(user):
    assert issubclass(GenerationOutputSerializer, CachedFieldsMixin)
    job = Generation.objects.create(
        user=user, kind="text_to_video", engine="procedural", prompt="a lantern"
    )
    plain = _PlainOutput(job).data
    first, second = GenerationOutputSerializer(job), GenerationOutputSerializer(job)
    assert first.data == plain and second.data == plain
    assert first.fields["prompt"] is not second.fields["prompt"]
    assert first.fields["prompt"].parent is first
    assert set(first.fields) == set(_PlainOutput(job).fields)
    # Built from the model once for the class, then copied.
    assert "_cached_field_prototypes" in GenerationOutputSerializer.__dict__
    assert "_cached_field_prototypes" not in _PlainOutput.__dict__
