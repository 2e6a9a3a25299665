"""Strict input parsing per kind, and the Generation's public shape (ARCHITECTURE.md contract)."""

from __future__ import annotations

import copy
import re

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models.manager import BaseManager
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty

from apps.core.parsers import json_loads
from apps.core.serializers import CachedFieldsMixin, StrictSerializer
from apps.core.urls_safety import url_check_public

from .models import Generation, StoryboardScene
from .selectors import (
    generation_eta_seconds,
    generation_queue_position,
    generation_queue_standings,
)

SEED_MAX = 2**32 - 1
MAX_SCENES = 10  # a storyboard's (storyboards.planning refuses more)


# Each kind's `quality` names, and those a persona or a storyboard may preset (either kind's);
# named in the schema by SPECTACULAR_SETTINGS' ENUM_NAME_OVERRIDES.
IMAGE_TO_VIDEO_QUALITIES = ["standard", "turbo"]
TEXT_TO_VIDEO_QUALITIES = ["fast", "high"]
PARAM_QUALITIES = [*IMAGE_TO_VIDEO_QUALITIES, *TEXT_TO_VIDEO_QUALITIES]


class _SizeField(serializers.IntegerField):
    multiple_of = 8  # checked by _SizeMixin; told in the schema (apps.core.schema)


def _size_field(default: int) -> serializers.IntegerField:
    return _SizeField(min_value=64, max_value=1920, default=default)


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
    quality = serializers.ChoiceField(choices=IMAGE_TO_VIDEO_QUALITIES, required=False)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    width = _size_field(1024)
    height = _size_field(576)


class TextToVideoParamsSerializer(_SizeMixin):
    num_frames = serializers.IntegerField(min_value=2, max_value=120, default=24)
    num_inference_steps = serializers.IntegerField(min_value=1, max_value=100, required=False)
    guidance_scale = serializers.FloatField(min_value=1.0, max_value=30.0, default=9.0)
    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    quality = serializers.ChoiceField(choices=TEXT_TO_VIDEO_QUALITIES, default="fast")
    enhance_prompt = serializers.BooleanField(default=True)
    fps = serializers.IntegerField(min_value=1, max_value=30, default=8)
    width = _size_field(576)
    height = _size_field(320)


PARAMS_SERIALIZERS = {
    Generation.Kind.IMAGE_TO_VIDEO: ImageToVideoParamsSerializer,
    Generation.Kind.TEXT_TO_VIDEO: TextToVideoParamsSerializer,
}
# The engines that make each kind (apps.generation.engines decides among them; another is a 400).
ENGINES_FOR_KIND = {
    Generation.Kind.IMAGE_TO_VIDEO: ("auto", "svd", "procedural"),
    Generation.Kind.TEXT_TO_VIDEO: ("auto", "zeroscope", "procedural"),
}


def _offers(field: serializers.Field, value) -> bool:
    try:
        return value in field.choices
    except TypeError:  # unhashable: no choice at all
        return False


def params_defaults_for(serializer_class, defaults: dict) -> dict:
    """The defaults (a persona's, a storyboard's) that apply to one kind: the parameters it
    takes, and of a choice another kind offers only a value this one offers too (quality=fast
    is text-to-video's, so an image-to-video job keeps its own default). A value no kind takes
    stays, for the kind's serializer to refuse."""
    fields = serializer_class().fields
    every_kind = quote_param_fields()
    applied = {}
    for name, value in (defaults or {}).items():
        field = fields.get(name)
        if field is None:
            continue
        another_kinds = (
            isinstance(field, serializers.ChoiceField)
            and not _offers(field, value)
            and _offers(every_kind[name], value)
        )
        if another_kinds:
            continue
        applied[name] = value
    return applied


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
                data = json_loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, dict):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "array", "items": {"type": "object"}})
class JSONListField(serializers.Field):
    """A JSON list given inline (JSON body) or as a JSON string (multipart form field)."""

    default_error_messages = {"invalid": "Must be a JSON list."}

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json_loads(data)
            except ValueError:
                self.fail("invalid")
        if not isinstance(data, list):
            self.fail("invalid")
        return data

    def to_representation(self, value):
        return value


TRANSITIONS = ("cut", "fade", "crossfade", "wipe", "slide", "zoom", "dissolve")
QUALITIES = ("draft", "standard", "high", "premium")
SCENE_IMAGE_FIELD = re.compile(r"scene_image_(\d{1,2})")
# Create-body fields that only a storyboard takes (besides the scene_image_<i> files).
STORYBOARD_FIELDS = (
    "scenes",
    "story",
    "scene_duration",
    "transition",
    "transition_duration",
    "quality",
    "chain",
    "narration_text",
    "narration_audio",
)


WEBHOOK_EVENTS = ("start", "progress", "completed")
WEBHOOK_EVENTS_DEFAULT = ["completed"]


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": list(WEBHOOK_EVENTS)}})
class WebhookEventsField(serializers.Field):
    """Which of a job's events go to its webhook: a JSON list (JSON body), or in a form the
    field repeated, a JSON list string or comma-separated names."""

    default_error_messages = {
        "invalid": "Must be a list of event names.",
        "unknown": "Unknown event {names}; choose from start, progress, completed.",
    }

    def get_value(self, dictionary):
        if hasattr(dictionary, "getlist") and self.field_name in dictionary:
            values = dictionary.getlist(self.field_name)
            return values if len(values) != 1 else values[0]
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, str):
            text = data.strip()
            if text.startswith("["):
                try:
                    data = json_loads(text)
                except ValueError:
                    self.fail("invalid")
            else:
                data = [part.strip() for part in text.split(",") if part.strip()]
        if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
            self.fail("invalid")
        unknown = sorted(set(data) - set(WEBHOOK_EVENTS))
        if unknown:
            self.fail("unknown", names=", ".join(unknown))
        return [event for event in WEBHOOK_EVENTS if event in data]  # once each, in order

    def to_representation(self, value):
        return value


class StoryboardSceneInputSerializer(StrictSerializer):
    prompt = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    # true announces the scene's picture, which comes apart as the file scene_image_<index>
    image = serializers.BooleanField(required=False, allow_null=True, default=None)
    duration = serializers.FloatField(min_value=0.5, max_value=20.0, default=3.0)
    transition = serializers.ChoiceField(choices=TRANSITIONS, required=False)
    engine = serializers.ChoiceField(choices=Generation.Engine.choices, required=False)
    params = JSONObjectField(required=False, default=dict)


@extend_schema_field(
    {
        "type": "string",
        "maxLength": 2000,
        # What the server takes: an http(s) URL naming a host (https and a public address
        # unless WEBHOOK_ALLOW_PRIVATE; apps.core.urls_safety), or "" for none.
        "pattern": r"^(https?://[A-Za-z0-9.-]+(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~/-]*)?)?$",
    }
)
class WebhookURLField(serializers.CharField):
    """The URL a job's events go to."""


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
    # (a CharField: every refusal, the scheme's too, comes from url_check_public, `unsafe_url`)
    webhook = WebhookURLField(
        max_length=2000, required=False, allow_blank=True, default="", trim_whitespace=True
    )
    webhook_events_filter = WebhookEventsField(required=False)
    # storyboard only
    scenes = JSONListField(required=False)
    story = serializers.CharField(max_length=5000, required=False)
    scene_duration = serializers.FloatField(min_value=0.5, max_value=20.0, required=False)
    transition = serializers.ChoiceField(choices=TRANSITIONS, required=False)
    transition_duration = serializers.FloatField(min_value=0.0, max_value=2.0, required=False)
    quality = serializers.ChoiceField(choices=QUALITIES, required=False)
    chain = serializers.BooleanField(required=False)
    narration_text = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    narration_audio = serializers.FileField(required=False, allow_empty_file=True)

    def to_internal_value(self, data):
        # The scene images are files named scene_image_<index>, beside the declared fields.
        images = {}
        if isinstance(data, dict) or hasattr(data, "getlist"):
            for key in list(data.keys()):
                match = SCENE_IMAGE_FIELD.fullmatch(key)
                if match:
                    upload = data.get(key)
                    if not isinstance(upload, UploadedFile):
                        raise serializers.ValidationError(
                            {key: ["Send scene images as files in a multipart request."]}
                        )
                    images[int(match.group(1))] = upload
            if images:
                data = {k: data.get(k) for k in data if not SCENE_IMAGE_FIELD.fullmatch(k)}
        attrs = super().to_internal_value(data)
        attrs["scene_images"] = images
        return attrs

    def validate_persona(self, value):
        if value is None:
            return None
        user = self.context["request"].user
        # The persona app sits above this one (it uses the params serializers): reach its model
        # through the foreign key rather than by importing it.
        persona_model = Generation._meta.get_field("persona").related_model
        persona = persona_model.objects.filter(user=user, pk=value).first()
        if persona is None:
            raise serializers.ValidationError("No such persona.")
        return persona

    def validate_webhook(self, value: str) -> str:
        """An address the workers may call (apps.core.urls_safety): a refusal is a 400 with
        code `unsafe_url`."""
        if not value:
            return ""
        return url_check_public(value, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)

    def _validate_webhook_filter(self, attrs) -> None:
        if "webhook_events_filter" in attrs and not attrs["webhook"]:
            raise serializers.ValidationError(
                {"webhook_events_filter": ["Give a webhook to send these events to."]}
            )
        if attrs["webhook"]:
            attrs.setdefault("webhook_events_filter", list(WEBHOOK_EVENTS_DEFAULT))
        else:
            attrs["webhook_events_filter"] = []

    def validate(self, attrs):
        kind = attrs["kind"]
        self._validate_webhook_filter(attrs)
        if kind == Generation.Kind.STORYBOARD:
            return self._validate_storyboard(attrs)
        # (initial_data, not attrs: a form request reports an absent boolean as False.)
        given = [f for f in STORYBOARD_FIELDS if f in self.initial_data] + [
            f"scene_image_{i}" for i in sorted(attrs.pop("scene_images", {}))
        ]
        if given:
            raise serializers.ValidationError({given[0]: ["Only a storyboard takes this."]})
        for name in STORYBOARD_FIELDS:
            attrs.pop(name, None)
        persona = attrs.get("persona")
        params_serializer = PARAMS_SERIALIZERS[kind]
        raw = dict(attrs.get("params") or {})
        if persona is not None:
            # The persona's defaults fill what the request leaves unset.
            raw = {**params_defaults_for(params_serializer, persona.defaults), **raw}
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

    def _validate_storyboard(self, attrs):
        images = attrs.pop("scene_images", {})
        if attrs.get("image"):
            raise serializers.ValidationError(
                {"image": ["A storyboard takes its images per scene, as scene_image_<index>."]}
            )
        attrs.pop("image", None)
        has_scenes, has_story = "scenes" in attrs, "story" in attrs
        if has_scenes == has_story:
            raise serializers.ValidationError(
                {"scenes": ["Give either scenes or a story (not both)."]}
            )
        scenes = []
        if has_scenes:
            raw_scenes = attrs["scenes"]
            if not raw_scenes:
                raise serializers.ValidationError({"scenes": ["Give at least one scene."]})
            for index, raw in enumerate(raw_scenes):
                scene = StoryboardSceneInputSerializer(data=raw)
                if not scene.is_valid():
                    raise serializers.ValidationError({f"scenes[{index}]": scene.errors})
                item = dict(scene.validated_data)
                upload = images.pop(index, None)
                if item.get("image") and upload is None:
                    raise serializers.ValidationError(
                        {
                            f"scenes[{index}]": [
                                f"Send this scene's image as the file field scene_image_{index}."
                            ]
                        }
                    )
                item["image"] = upload
                scenes.append(item)
            if images:
                index = min(images)
                raise serializers.ValidationError(
                    {f"scene_image_{index}": [f"There is no scene {index} for this image."]}
                )
        else:
            if images:
                index = min(images)
                raise serializers.ValidationError(
                    {f"scene_image_{index}": ["A story takes no scene images."]}
                )
            attrs["story"] = attrs["story"].strip()
        attrs["scenes"] = scenes
        attrs.setdefault("story", "")
        attrs.setdefault("scene_duration", 3.0)
        attrs.setdefault("transition", "crossfade")
        attrs.setdefault("transition_duration", 0.5)
        attrs.setdefault("quality", "standard")
        attrs.setdefault("chain", False)
        attrs["narration_text"] = (attrs.get("narration_text") or "").strip()
        attrs.setdefault("narration_audio", None)
        if attrs["narration_audio"] is not None and not attrs["narration_audio"].size:
            raise serializers.ValidationError({"narration_audio": ["The uploaded file is empty."]})
        attrs["params"] = _storyboard_params(attrs.get("params"))
        return attrs


def _storyboard_params(raw) -> dict:
    """A storyboard's `params`: each a parameter of some kind, its value one that kind takes
    (a value no kind takes is a 400 even where no scene is of the kind that names it)."""
    checked = StoryboardParamsSerializer(data=dict(raw or {}))
    if not checked.is_valid():
        raise serializers.ValidationError({"params": checked.errors})
    return dict(raw or {})


class _CreateCommonSerializer(StrictSerializer):
    """What every kind's create body takes (the schema's per-kind bodies; the server parses
    them with GenerationCreateInputSerializer)."""

    engine = serializers.ChoiceField(choices=Generation.Engine.choices, default="auto")
    prompt = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    negative_prompt = serializers.CharField(max_length=1000, required=False, allow_blank=True)
    persona = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="One of your personas (another id is a 400): its defaults fill the "
        "parameters the request leaves unset, its style joins the prompt.",
    )
    webhook = WebhookURLField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text='An http(s) URL that receives the job\'s events ("" for none).',
    )
    webhook_events_filter = WebhookEventsField(
        required=False, help_text="Which events go to `webhook` (only with one)."
    )
    # webhook_events_filter needs a webhook (apps.core.schema reads this).
    schema_requires = {"webhook_events_filter": "webhook"}


class ImageToVideoCreateSerializer(_CreateCommonSerializer):
    """An image-to-video job: the image as a file (multipart), or a persona's reference image."""

    kind = serializers.ChoiceField(choices=[Generation.Kind.IMAGE_TO_VIDEO.value])
    engine = serializers.ChoiceField(
        choices=ENGINES_FOR_KIND[Generation.Kind.IMAGE_TO_VIDEO], default="auto"
    )
    params = ImageToVideoParamsSerializer(required=False)
    image = serializers.FileField(
        required=False, help_text="A JPEG, PNG or WebP picture (else the persona's)."
    )
    # Either the image or a persona (one with a reference image); a JSON body has no files, so
    # there the persona is required (apps.core.schema reads this).
    schema_file_or = ("image", "persona")


class TextToVideoCreateSerializer(_CreateCommonSerializer):
    kind = serializers.ChoiceField(choices=[Generation.Kind.TEXT_TO_VIDEO.value])
    engine = serializers.ChoiceField(
        choices=ENGINES_FOR_KIND[Generation.Kind.TEXT_TO_VIDEO], default="auto"
    )
    prompt = serializers.CharField(max_length=2000)
    params = TextToVideoParamsSerializer(required=False)


class StoryboardParamsSerializer(StrictSerializer):
    """A storyboard's parameters: every kind's, each applied to the scenes whose kind takes it
    (and a choice only where the kind offers the value)."""

    def get_fields(self):
        return quote_param_fields()


@extend_schema_field({"type": "boolean", "nullable": True, "enum": [False, None]})
class _JSONSceneImageField(serializers.BooleanField):
    """A JSON scene's `image`: it cannot announce a file."""


class StoryboardSceneSchemaSerializer(StoryboardSceneInputSerializer):
    """One scene of a JSON storyboard's `scenes` (schema only: StoryboardSceneInputSerializer
    parses; a multipart body's `scenes` part takes `image: true` with its file)."""

    image = _JSONSceneImageField(
        required=False,
        allow_null=True,
        help_text="In a JSON body, false or null: a scene's picture is a file, so a scene "
        "with one (`true`, the file scene_image_<index>) comes in a multipart body.",
    )
    params = StoryboardParamsSerializer(required=False)


class StoryboardCreateSerializer(_CreateCommonSerializer):
    """A storyboard: `scenes` (each text or an image) or a `story` to split into scenes."""

    kind = serializers.ChoiceField(choices=[Generation.Kind.STORYBOARD.value])
    params = StoryboardParamsSerializer(required=False)
    scenes = StoryboardSceneSchemaSerializer(
        many=True, required=False, allow_empty=False, max_length=MAX_SCENES
    )
    story = serializers.CharField(max_length=5000, required=False)
    scene_duration = serializers.FloatField(min_value=0.5, max_value=20.0, required=False)
    transition = serializers.ChoiceField(choices=TRANSITIONS, required=False)
    transition_duration = serializers.FloatField(min_value=0.0, max_value=2.0, required=False)
    quality = serializers.ChoiceField(choices=QUALITIES, required=False)
    chain = serializers.BooleanField(required=False)
    narration_text = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    narration_audio = serializers.FileField(required=False, help_text="WAV, MP3, OGG or M4A.")
    # Exactly one of scenes and story; and unless chained (where a scene may start from the
    # previous one's last frame), a JSON scene (one without a picture) needs a prompt
    # (apps.core.schema reads these; the constraints go on the JSON body).
    schema_one_of_required = ("scenes", "story")
    schema_constraints = [
        {
            "anyOf": [
                {"required": ["chain"], "properties": {"chain": {"enum": [True]}}},
                {
                    "properties": {
                        "scenes": {
                            "items": {
                                "required": ["prompt"],
                                "properties": {"prompt": {"pattern": r"\S"}},
                            }
                        }
                    }
                },
            ]
        }
    ]


class _RecordedFactsSerializer(serializers.Serializer):
    """A JSON object recorded by the worker: only the keys it holds (a missing key is not
    null), so an empty recipe stays `{}`."""

    def to_representation(self, instance):
        body = super().to_representation(instance)
        return {name: value for name, value in body.items() if name in instance}


class RecipeVersionsSerializer(_RecordedFactsSerializer):
    """The software that made a clip (workers.recipe.versions); None where not installed."""

    platform = serializers.CharField(read_only=True)
    torch = serializers.CharField(read_only=True, allow_null=True)
    diffusers = serializers.CharField(read_only=True, allow_null=True)
    ffmpeg = serializers.CharField(read_only=True, allow_null=True)


class RecipeSerializer(_RecordedFactsSerializer):
    """How a clip was made (workers.recipe): empty until the job succeeds; a storyboard's holds
    what all its scenes share (each scene has its own). Output only; its fields are optional
    (not read-only, which the schema would list as required)."""

    engine = serializers.CharField(required=False)
    model = serializers.CharField(required=False)
    model_revision = serializers.CharField(required=False, allow_null=True)
    model_revision_source = serializers.ChoiceField(
        choices=("hub_commit", "folder_hash", "engine_version", "unknown"), required=False
    )
    device = serializers.CharField(required=False)
    versions = RecipeVersionsSerializer(required=False)


class StoryboardSceneOutputSerializer(serializers.ModelSerializer):
    video_url = serializers.SerializerMethodField()
    recipe = RecipeSerializer(read_only=True)

    class Meta:
        model = StoryboardScene
        fields = (
            "index",
            "status",
            "prompt",
            "duration",
            "transition",
            "engine",
            "video_url",
            "generation_time",
            "recipe",
            "error",
        )
        read_only_fields = fields

    def get_video_url(self, obj: StoryboardScene) -> str | None:
        if not obj.video or obj.status != StoryboardScene.Status.SUCCEEDED:
            return None
        path = reverse(
            "generation-scene-media", kwargs={"pk": obj.generation_id, "index": obj.index}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class GenerationListSerializer(serializers.ListSerializer):
    """A page of generations: the queued ones' positions and ETAs come from one estimate per
    queue (selectors.generation_queue_standings), not one count and estimate per job."""

    def to_representation(self, data):
        items = list(data.all() if isinstance(data, BaseManager) else data)
        self._context = {
            **self._context,
            "queue_standings": generation_queue_standings(generations=items),
        }
        return super().to_representation(items)


class GenerationOutputSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    persona = serializers.SerializerMethodField()
    queue_position = serializers.SerializerMethodField()
    eta_seconds = serializers.SerializerMethodField()
    video_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    scenes = serializers.SerializerMethodField()
    subtitles_url = serializers.SerializerMethodField()
    story_source = serializers.SerializerMethodField()
    # A URL when the job has a webhook, "" when it has none (so not `format: uri`).
    webhook = serializers.CharField(read_only=True)
    recipe = RecipeSerializer(read_only=True)

    STORYBOARD_ONLY = ("scenes", "subtitles_url", "story_source")
    schema_optional_fields = STORYBOARD_ONLY  # absent for the other kinds

    class Meta:
        model = Generation
        list_serializer_class = GenerationListSerializer
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
            "generation_time",
            "recipe",
            "created_at",
            "started_at",
            "finished_at",
            "webhook",
            "webhook_events_filter",
            "scenes",
            "subtitles_url",
            "story_source",
        )
        read_only_fields = fields

    def to_representation(self, instance):
        body = super().to_representation(instance)
        if instance.kind != Generation.Kind.STORYBOARD:
            for name in self.STORYBOARD_ONLY:
                body.pop(name, None)
        return body

    @extend_schema_field(StoryboardSceneOutputSerializer(many=True))
    def get_scenes(self, obj: Generation) -> list | None:
        if obj.kind != Generation.Kind.STORYBOARD:
            return None
        return StoryboardSceneOutputSerializer(
            obj.scenes.all(), many=True, context=self.context
        ).data

    def get_subtitles_url(self, obj: Generation) -> str | None:
        return self._media_url(obj, "subtitles")

    def get_story_source(self, obj: Generation) -> str | None:
        return (obj.params or {}).get("story_source") or None

    def get_persona(self, obj: Generation) -> str | None:
        return str(obj.persona_id) if obj.persona_id else None

    def _standing(self, obj: Generation) -> tuple[int, float | None] | None:
        """(position, ETA) from the list's batch (GenerationListSerializer), or those of the
        live event just sent for it (events.generation_broadcast), when there is one."""
        standing = self.context.get("queue_standings", {}).get(obj.pk)
        return standing if standing is not None else getattr(obj, "live_standing", None)

    def get_queue_position(self, obj: Generation) -> int | None:
        standing = self._standing(obj)
        return standing[0] if standing else generation_queue_position(generation=obj)

    def get_eta_seconds(self, obj: Generation) -> float | None:
        standing = self._standing(obj)
        return standing[1] if standing else generation_eta_seconds(generation=obj)

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


STORYBOARD_QUOTE_FIELDS = ("scenes", "scene_count", "duration", "engine", "params", "chain")


class StoryboardQuoteInputSerializer(StrictSerializer):
    """A storyboard's quote: the create body's `scenes`, or `scene_count` alike scenes."""

    scenes = JSONListField(required=False)
    scene_count = serializers.IntegerField(min_value=1, max_value=10, required=False)
    duration = serializers.FloatField(min_value=0.5, max_value=20.0, default=3.0)
    engine = serializers.ChoiceField(choices=Generation.Engine.choices, default="auto")
    params = JSONObjectField(required=False, default=dict)
    chain = serializers.BooleanField(default=False)

    def validate(self, attrs):
        if ("scenes" in attrs) == ("scene_count" in attrs):
            raise serializers.ValidationError(
                {"scenes": ["Give either scenes (a JSON list) or scene_count."]}
            )
        if "scenes" in attrs:
            scenes = []
            for index, raw in enumerate(attrs["scenes"]):
                scene = StoryboardSceneInputSerializer(data=raw)
                if not scene.is_valid():
                    raise serializers.ValidationError({f"scenes[{index}]": scene.errors})
                scenes.append(dict(scene.validated_data))
        else:
            # Alike scenes: text-to-video unless chained (the price does not read the prompt).
            scenes = [
                {"prompt": "scene", "duration": attrs["duration"]}
                for _ in range(attrs["scene_count"])
            ]
        return {
            "scenes": scenes,
            "engine": attrs["engine"],
            "params": _storyboard_params(attrs.get("params")),
            "chain": attrs["chain"],
        }


def quote_param_fields() -> dict[str, serializers.Field]:
    """Every kind's parameters, each optional (the kind's own serializer then checks them)."""
    fields: dict[str, serializers.Field] = {}
    for serializer_class in PARAMS_SERIALIZERS.values():
        for name, field in serializer_class().fields.items():
            if name not in fields:
                field = copy.deepcopy(field)
                field.required, field.default = False, empty
                fields[name] = field
            elif isinstance(field, serializers.ChoiceField):  # e.g. quality: every kind's names
                choices = [
                    *fields[name].choices,
                    *(c for c in field.choices if c not in fields[name].choices),
                ]
                fields[name] = serializers.ChoiceField(choices=choices, required=False)
    return fields


class GenerationQuoteQuerySerializer(StrictSerializer):
    """The quote's query parameters, as create takes them: an unknown one is refused (400).

    A kind's parameters are given one by one (`num_frames=24`) or as `params=<JSON object>`;
    a storyboard's as `scenes=<JSON list>`, or `scene_count` scenes of `duration` seconds."""

    kind = serializers.ChoiceField(choices=Generation.Kind.choices)
    engine = serializers.ChoiceField(choices=Generation.Engine.choices, default="auto")
    persona = serializers.UUIDField(
        required=False, help_text="One of your personas: its defaults fill unset parameters."
    )
    params = serializers.CharField(required=False, help_text="A JSON object of parameters.")
    # storyboard only
    scenes = serializers.CharField(required=False, help_text="A JSON list of scenes.")
    scene_count = serializers.IntegerField(min_value=1, max_value=10, required=False)
    duration = serializers.FloatField(min_value=0.5, max_value=20.0, required=False)
    chain = serializers.BooleanField(required=False)

    def get_fields(self):
        return {**super().get_fields(), **quote_param_fields()}

    def validate(self, attrs):
        if attrs["kind"] != Generation.Kind.STORYBOARD:
            given = [
                name for name in ("scenes", "scene_count", "duration", "chain") if name in attrs
            ]
            if given:
                raise serializers.ValidationError({given[0]: ["Only a storyboard takes this."]})
        return attrs


class GenerationQuoteSerializer(serializers.Serializer):
    """A quote: the price, the engine that would run; a storyboard's adds its parts."""

    credits = serializers.IntegerField()
    engine = serializers.CharField()
    scenes = serializers.ListField(child=serializers.IntegerField(), required=False)
    assembly = serializers.IntegerField(required=False)


class RerunInputSerializer(StrictSerializer):
    """`POST /generations/{id}/rerun/`: what to change; each field absent keeps the old job's."""

    seed = serializers.IntegerField(min_value=0, max_value=SEED_MAX, required=False)
    # Merged over the old job's parameters, then checked as create checks the kind's.
    params = JSONObjectField(required=False, default=dict)
    prompt = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    engine = serializers.ChoiceField(choices=Generation.Engine.choices, required=False)
