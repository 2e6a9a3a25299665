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
    """ "16:9 · 1024 × 576": the aspect first, as people choose by shape."""
    ratio = width / height
    for label, value in (("16:9", 16 / 9), ("9:16", 9 / 16), ("5:3", 5 / 3), ("3:5", 3 / 5)):
        if abs(ratio - value) < 0.05:
            return f"{label} · {width} × {height}"
    return f"{width} × {height}"


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


def _float_field(serializer_class, name: str, label: str, help_text: str = "", step=0.5):
    """An optional decimal input, bounds and default from the API's params serializer."""
    rule = serializer_class().fields[name]
    attrs = {"inputmode": "decimal", "step": step, "min": rule.min_value, "max": rule.max_value}
    attrs["placeholder"] = "auto" if rule.default is empty else f"{rule.default} (default)"
    return forms.FloatField(
        label=label, required=False, help_text=help_text, widget=forms.NumberInput(attrs=attrs)
    )


# Params the forms send; the quote request and "reuse settings" use the same names.
PARAM_NAMES = (
    "num_frames",
    "fps",
    "seed",
    "motion_strength",
    "num_inference_steps",
    "guidance_scale",
    "max_guidance_scale",
)


class _GenerationForm(forms.Form):
    kind: str = ""

    size = forms.ChoiceField(label="Aspect and size", required=False)
    persona = forms.ChoiceField(
        label="Persona",
        required=False,
        help_text="A recurring character: its description and style join the prompt.",
    )

    def __init__(self, *args, personas=(), **kwargs):
        kwargs.setdefault("auto_id", f"{self.kind}-%s")
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        sizes = list(SIZES[self.kind])
        reused = (self.initial or {}).get("size")
        if reused:
            width, height = (int(side) for side in reused.split("x"))
            if (width, height) not in sizes:
                sizes.append((width, height))  # reusing a job made with another size
        self.fields["size"].choices = [(f"{w}x{h}", _size_label(w, h)) for w, h in sizes]
        self.fields["size"].initial = "{}x{}".format(*sizes[0])
        self.personas = {str(persona.pk): persona for persona in personas}
        self.fields["persona"].choices = [("", "None")] + [
            (key, persona.name) for key, persona in self.personas.items()
        ]

    def clean_size(self) -> tuple[int, int] | None:
        value = self.cleaned_data.get("size")
        if not value:
            return None
        width, height = value.split("x")
        return int(width), int(height)

    def params(self) -> dict:
        data = self.cleaned_data
        params = {}
        for name in PARAM_NAMES:
            if name in self.fields and data.get(name) is not None:
                params[name] = data[name]
        if data.get("size"):
            params["width"], params["height"] = data["size"]
        return params

    def api_data(self) -> dict:
        """The body the API would get for the same request."""
        raise NotImplementedError

    def persona_id(self) -> str | None:
        return self.cleaned_data.get("persona") or None

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
    num_inference_steps = _number_field(
        ImageToVideoParamsSerializer, "num_inference_steps", "Steps", "More steps: finer, slower."
    )
    max_guidance_scale = _float_field(
        ImageToVideoParamsSerializer,
        "max_guidance_scale",
        "Guidance",
        "How closely the last frames follow the image.",
    )

    field_order = ["image", "persona", "motion_strength", "num_frames", "fps", "size", "seed"]

    def api_data(self) -> dict:
        data = {
            "kind": self.kind,
            "engine": "auto",
            "persona": self.persona_id(),
            "params": self.params(),
        }
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
    num_inference_steps = _number_field(
        TextToVideoParamsSerializer, "num_inference_steps", "Steps", "More steps: finer, slower."
    )
    guidance_scale = _float_field(
        TextToVideoParamsSerializer,
        "guidance_scale",
        "Guidance",
        "How closely the video follows the prompt.",
    )

    field_order = ["prompt", "persona", "num_frames", "fps", "size", "seed", "negative_prompt"]

    def api_data(self) -> dict:
        return {
            "kind": self.kind,
            "engine": "auto",
            "persona": self.persona_id(),
            "prompt": self.cleaned_data.get("prompt") or "",
            "negative_prompt": self.cleaned_data.get("negative_prompt") or "",
            "params": self.params(),
        }


FORMS = {form.kind: form for form in (ImageToVideoForm, TextToVideoForm)}
