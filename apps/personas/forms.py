"""The persona pages' forms. They only parse what the browser sends; the rules are the API's
(the views run PersonaInputSerializer on `api_data()`), so the pages and the API agree."""

from __future__ import annotations

from django import forms

from apps.generation.serializers import ImageToVideoParamsSerializer, TextToVideoParamsSerializer

from .models import Persona

IMAGE_TYPES = "image/jpeg,image/png,image/webp"
I2V = ImageToVideoParamsSerializer().fields
T2V = TextToVideoParamsSerializer().fields
# The defaults a persona page edits; others (set through the API) are kept as they are.
DEFAULT_FIELDS = ("seed", "motion_strength", "num_frames", "fps", "guidance_scale", "quality")


def _bounds(rule, **attrs) -> dict:
    if rule.min_value is not None:
        attrs["min"] = rule.min_value
    if rule.max_value is not None:
        attrs["max"] = rule.max_value
    return attrs


class PersonaForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=Persona._meta.get_field("name").max_length, strip=True
    )
    description = forms.CharField(
        label="Description",
        required=False,
        help_text="Who the character is and how it looks; added to every prompt that uses it.",
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "maxlength": Persona._meta.get_field("description").max_length,
                "placeholder": "A small silver robot with a cracked visor and a red scarf",
            }
        ),
    )
    style = forms.CharField(
        label="Style words",
        required=False,
        max_length=Persona._meta.get_field("style").max_length,
        help_text="Comma-separated look and feel: medium, lighting, mood, camera.",
        widget=forms.TextInput(attrs={"placeholder": "neon noir, rim light, 35mm, slow dolly"}),
    )
    reference_image = forms.FileField(
        label="Reference image",
        required=False,
        help_text="JPEG, PNG or WebP. Image-to-video without an image starts from it.",
        widget=forms.FileInput(attrs={"accept": IMAGE_TYPES}),
    )
    remove_reference_image = forms.BooleanField(label="Remove the reference image", required=False)
    seed = forms.IntegerField(
        label="Seed",
        required=False,
        widget=forms.NumberInput(attrs=_bounds(I2V["seed"], placeholder="random")),
    )
    motion_strength = forms.FloatField(
        label="Motion strength (image → video)",
        required=False,
        widget=forms.NumberInput(attrs=_bounds(I2V["motion_strength"], step=0.05)),
    )
    num_frames = forms.IntegerField(
        label="Frames", required=False, widget=forms.NumberInput(attrs=_bounds(I2V["num_frames"]))
    )
    fps = forms.IntegerField(
        label="Frames per second",
        required=False,
        widget=forms.NumberInput(attrs=_bounds(I2V["fps"])),
    )
    guidance_scale = forms.FloatField(
        label="Guidance scale (text → video)",
        required=False,
        widget=forms.NumberInput(attrs=_bounds(T2V["guidance_scale"], step=0.5)),
    )
    quality = forms.ChoiceField(
        label="Quality (text → video)",
        required=False,
        choices=[("", "—"), ("fast", "fast"), ("high", "high")],
    )

    def __init__(self, *args, persona: Persona | None = None, **kwargs):
        self.persona = persona
        if persona is not None and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": persona.name,
                "description": persona.description,
                "style": persona.style,
                **{k: v for k, v in persona.defaults.items() if k in DEFAULT_FIELDS},
            }
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)
        if persona is None or not persona.reference_image:
            del self.fields["remove_reference_image"]

    def api_data(self) -> dict:
        """The body the API would get (defaults merged into the persona's other defaults)."""
        data = self.cleaned_data
        kept = {}
        if self.persona is not None:
            kept = {k: v for k, v in self.persona.defaults.items() if k not in DEFAULT_FIELDS}
        defaults = {
            **kept,
            **{k: data[k] for k in DEFAULT_FIELDS if data.get(k) not in (None, "")},
        }
        body = {
            "name": data["name"],
            "description": data.get("description") or "",
            "style": data.get("style") or "",
            "defaults": defaults,
        }
        if data.get("reference_image") is not None:
            body["reference_image"] = data["reference_image"]
        elif data.get("remove_reference_image"):
            body["reference_image"] = None
        return body

    def add_api_errors(self, errors: dict) -> None:
        for key, value in errors.items():
            if key == "defaults" and isinstance(value, dict):
                for name, messages in value.items():
                    target = name if name in self.fields else None
                    self.add_error(target, [f"{name}: {m}" for m in messages])
            elif key in self.fields:
                self.add_error(key, list(value))
            else:
                self.add_error(None, [str(m) for m in value])

    def add_service_error(self, message: str) -> None:
        name, separator, rest = message.partition(": ")
        if separator and name in self.fields and rest:
            self.add_error(name, rest[0].upper() + rest[1:])
        else:
            self.add_error(None, message)


class PersonaDraftForm(forms.Form):
    image = forms.FileField(
        label="Character image",
        help_text="A JPEG, PNG or WebP picture of the character.",
        widget=forms.FileInput(attrs={"accept": IMAGE_TYPES}),
    )
