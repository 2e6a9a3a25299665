"""The create page's forms. They only parse what the browser sends; the rules (ranges, required
inputs, engine limits) are the API's: the view runs GenerationCreateInputSerializer on what
these forms produce, and the service does the rest, so the page and the API validate alike.

Bounds shown to the browser (min, max, maxlength, placeholders) are read from the same
serializers, so the hints cannot drift from the rules.
"""

from __future__ import annotations

from django import forms
from rest_framework.fields import empty

from apps.generation.models import Generation
from apps.generation.serializers import (
    GenerationCreateInputSerializer,
    ImageToVideoParamsSerializer,
    TextToVideoParamsSerializer,
)

IMAGE_TYPES = "image/jpeg,image/png,image/webp"
# Multiples of 64, so every engine (SVD and Zeroscope need them) accepts every choice.
SIZES = {
    Generation.Kind.IMAGE_TO_VIDEO: [(1024, 576), (576, 320), (320, 192), (576, 1024)],
    Generation.Kind.TEXT_TO_VIDEO: [(576, 320), (320, 192), (1024, 576), (320, 576)],
}


def _size_label(width: int, height: int) -> str:
    shape = "portrait" if height > width else "landscape"
    return f"{width} × {height} ({shape})"


def _number_field(serializer_class, name: str, label: str, help_text: str = "", **attrs):
    """An optional number input whose browser hints come from the API's params serializer."""
    rule = serializer_class().fields[name]
    widget_attrs = {"inputmode": "numeric", **attrs}
    if rule.min_value is not None:
        widget_attrs["min"] = rule.min_value
    if rule.max_value is not None:
        widget_attrs["max"] = rule.max_value
    widget_attrs["placeholder"] = "random" if rule.default is empty else f"{rule.default} (default)"
    return forms.IntegerField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.NumberInput(attrs=widget_attrs),
    )


class _GenerationForm(forms.Form):
    kind: str = ""

    size = forms.ChoiceField(label="Size (width × height)", required=False)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", f"{self.kind}-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        sizes = SIZES[self.kind]
        self.fields["size"].choices = [(f"{w}x{h}", _size_label(w, h)) for w, h in sizes]
        self.fields["size"].initial = "{}x{}".format(*sizes[0])

    def clean_size(self) -> tuple[int, int] | None:
        value = self.cleaned_data.get("size")
        if not value:
            return None
        width, height = value.split("x")
        return int(width), int(height)

    def params(self) -> dict:
        data = self.cleaned_data
        params = {}
        for name in ("num_frames", "fps", "seed", "motion_strength"):
            if name in self.fields and data.get(name) is not None:
                params[name] = data[name]
        if data.get("size"):
            params["width"], params["height"] = data["size"]
        return params

    def api_data(self) -> dict:
        """The body the API would get for the same request."""
        raise NotImplementedError

    def add_service_error(self, message: str) -> None:
        """A domain error from the service; "image: ..." style messages go beside their field."""
        name, separator, rest = message.partition(": ")
        if separator and name in self.fields and rest:
            self.add_error(name, rest[0].upper() + rest[1:])
        else:
            self.add_error(None, message)

    def add_api_errors(self, errors: dict) -> None:
        """Show the API serializer's field errors beside the inputs they belong to."""
        for key, value in errors.items():
            if key == "params" and isinstance(value, dict):
                for name, messages in value.items():
                    target = "size" if name in ("width", "height") else name
                    if target in self.fields:
                        self.add_error(target, [f"{name}: {m}" for m in messages])
                    else:
                        self.add_error(None, [f"{name}: {m}" for m in messages])
            elif key in self.fields:
                self.add_error(key, list(value))
            elif key == "non_field_errors":
                self.add_error(None, list(value))
            else:
                self.add_error(None, [f"{key}: {m}" for m in value])


MOTION = ImageToVideoParamsSerializer().fields["motion_strength"]


class ImageToVideoForm(_GenerationForm):
    kind = Generation.Kind.IMAGE_TO_VIDEO

    image = forms.FileField(
        label="Image",
        required=False,
        help_text="A JPEG, PNG or WebP picture, at least 64 × 64 pixels.",
        widget=forms.FileInput(attrs={"accept": IMAGE_TYPES, "required": True}),
    )
    motion_strength = forms.FloatField(
        label="Motion strength",
        required=False,
        initial=MOTION.default,
        help_text="How much the picture moves: 0 is calm, 1 is wild.",
        widget=forms.NumberInput(
            attrs={"type": "range", "min": MOTION.min_value, "max": MOTION.max_value, "step": 0.05}
        ),
    )
    num_frames = _number_field(ImageToVideoParamsSerializer, "num_frames", "Frames")
    fps = _number_field(ImageToVideoParamsSerializer, "fps", "Frames per second")
    seed = _number_field(
        ImageToVideoParamsSerializer,
        "seed",
        "Seed",
        "The same seed and inputs give the same video.",
    )

    field_order = ["image", "motion_strength", "num_frames", "fps", "seed", "size"]

    def api_data(self) -> dict:
        data = {"kind": self.kind, "engine": "auto", "params": self.params()}
        if self.cleaned_data.get("image") is not None:
            data["image"] = self.cleaned_data["image"]
        return data


class TextToVideoForm(_GenerationForm):
    kind = Generation.Kind.TEXT_TO_VIDEO
    PROMPT_MAX = GenerationCreateInputSerializer().fields["prompt"].max_length
    NEGATIVE_MAX = GenerationCreateInputSerializer().fields["negative_prompt"].max_length

    prompt = forms.CharField(
        label="Prompt",
        required=False,
        strip=False,
        help_text="Describe the scene, the light and the motion.",
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "maxlength": PROMPT_MAX,
                "required": True,
                "placeholder": "A neon-lit harbour at night, rain on the water, slow drift",
            }
        ),
    )
    negative_prompt = forms.CharField(
        label="Avoid (negative prompt)",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 2, "maxlength": NEGATIVE_MAX, "placeholder": "blurry, text, watermark"}
        ),
    )
    num_frames = _number_field(TextToVideoParamsSerializer, "num_frames", "Frames")
    fps = _number_field(TextToVideoParamsSerializer, "fps", "Frames per second")
    seed = _number_field(
        TextToVideoParamsSerializer, "seed", "Seed", "The same seed and prompt give the same video."
    )

    field_order = ["prompt", "negative_prompt", "num_frames", "fps", "seed", "size"]

    def api_data(self) -> dict:
        return {
            "kind": self.kind,
            "engine": "auto",
            "prompt": self.cleaned_data.get("prompt") or "",
            "negative_prompt": self.cleaned_data.get("negative_prompt") or "",
            "params": self.params(),
        }


FORMS = {form.kind: form for form in (ImageToVideoForm, TextToVideoForm)}
