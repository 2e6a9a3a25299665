"""Writes to personas, and the "character from image" draft.

Persona text goes through the content blocklist (apps.core.screening.prompt_screen) before it
is stored, since it is woven into every prompt that uses the persona.
"""

from __future__ import annotations

import io
import logging
from dataclasses import asdict, dataclass, field

from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from PIL import Image

from apps.core.exceptions import ApplicationError
from apps.core.image_screen import image_screen
from apps.core.screening import prompt_screen
from apps.core.uploads import image_ingest

from . import gemini_api
from .image_analysis import image_traits, style_words
from .models import Persona

logger = logging.getLogger(__name__)

DRAFT_IMAGE_MAX_SIDE = 1024
HEX_DIGITS = set("0123456789abcdef")


class PersonaNameTaken(ApplicationError):
    status_code = 409  # a conflict with a persona the user has, not a malformed request
    default_code = "persona_name_taken"


_UNSET = object()


def _reference_ingest(upload):
    """Decode a reference image and pass it through the image screen before it is stored."""
    ingested = image_ingest(upload, field="reference_image")
    image_screen(data=ingested.content.read(), field="reference_image")
    ingested.content.seek(0)
    return ingested


def _screen(*, name: str, description: str, style: str) -> None:
    prompt_screen(text="\n".join((name, description, style)))


def _name_taken(*, user, name: str, exclude=None) -> bool:
    rows = Persona.objects.filter(user=user, name__iexact=name)
    if exclude is not None:
        rows = rows.exclude(pk=exclude.pk)
    return rows.exists()


def _taken_error(name: str) -> PersonaNameTaken:
    return PersonaNameTaken(f'name: you already have a persona called "{name}".')


def persona_create(
    *,
    user,
    name: str,
    description: str = "",
    style: str = "",
    defaults: dict | None = None,
    reference_image=None,
) -> Persona:
    """Create a persona (defaults already validated by the caller's serializer)."""
    description, style = description.strip(), style.strip()
    _screen(name=name, description=description, style=style)
    if _name_taken(user=user, name=name):
        raise _taken_error(name)
    ingested = _reference_ingest(reference_image) if reference_image else None
    persona = Persona(
        user=user, name=name, description=description, style=style, defaults=defaults or {}
    )
    stored = None
    try:
        with transaction.atomic():
            if ingested is not None:
                persona.reference_image.save("reference.png", ingested.content, save=False)
                stored = persona.reference_image.name
            persona.full_clean(
                exclude=["reference_image"], validate_unique=False, validate_constraints=False
            )
            persona.save(force_insert=True)
    except IntegrityError:
        if stored:
            default_storage.delete(stored)
        raise _taken_error(name)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    return persona


def persona_update(
    *,
    persona: Persona,
    name: str | None = None,
    description: str | None = None,
    style: str | None = None,
    defaults: dict | None = None,
    reference_image=_UNSET,
) -> Persona:
    """Change what is given. `reference_image`: an upload replaces it, None removes it."""
    new_name = persona.name if name is None else name
    new_description = persona.description if description is None else description.strip()
    new_style = persona.style if style is None else style.strip()
    _screen(name=new_name, description=new_description, style=new_style)
    if name is not None and _name_taken(user=persona.user, name=new_name, exclude=persona):
        raise _taken_error(new_name)
    ingested = None
    if reference_image is not _UNSET and reference_image is not None:
        ingested = _reference_ingest(reference_image)

    old_image = persona.reference_image.name or None
    persona.name, persona.description, persona.style = new_name, new_description, new_style
    if defaults is not None:
        persona.defaults = defaults
    stored = None
    try:
        with transaction.atomic():
            if ingested is not None:
                persona.reference_image.save("reference.png", ingested.content, save=False)
                stored = persona.reference_image.name
            elif reference_image is None:
                persona.reference_image = ""
            persona.full_clean(
                exclude=["reference_image"], validate_unique=False, validate_constraints=False
            )
            persona.save()
    except IntegrityError:
        if stored:
            default_storage.delete(stored)
        raise _taken_error(new_name)
    except BaseException:
        if stored:
            default_storage.delete(stored)
        raise
    if old_image and old_image != persona.reference_image.name:
        default_storage.delete(old_image)
    return persona


def persona_delete(*, persona: Persona) -> None:
    """Delete a persona. Generations made with it keep their own copy of prompt and image."""
    image = persona.reference_image.name or None
    persona.delete()
    if image:
        transaction.on_commit(lambda: default_storage.delete(image))


# --- "character from image" -------------------------------------------------------------------


@dataclass
class PersonaDraft:
    name: str
    description: str
    style: str
    palette: list[str] = field(default_factory=list)
    source: str = "local"  # gemini | local
    notes: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _valid_hex(value: str) -> str | None:
    value = value.strip().lower()
    if not value.startswith("#"):
        value = f"#{value}"
    if len(value) == 7 and set(value[1:]) <= HEX_DIGITS:
        return value
    return None


def _local_draft(traits, *, notes: str) -> PersonaDraft:
    colours = [n for n in traits.colour_names if n not in ("black", "white", "grey")]
    lead = colours[0] if colours else (traits.colour_names or ["shadow"])[0]
    names = ", ".join(traits.colour_names[:3]) or "mixed"
    tone = "dark" if traits.brightness < 0.3 else "bright" if traits.brightness > 0.7 else "mid"
    return PersonaDraft(
        name=f"{lead.capitalize()} character",
        description=(
            f"A character from a {traits.aspect} {tone}-toned image; main colours {names}."
        ),
        style=", ".join(style_words(traits)),
        palette=traits.palette,
        source="local",
        notes=notes,
    )


def persona_draft_from_image(*, image) -> PersonaDraft:
    """A persona draft for an uploaded image: from Gemini when configured (with retries), or
    from the local analysis when it is not or when Gemini fails. Nothing is stored."""
    ingested = image_ingest(image)
    with Image.open(io.BytesIO(ingested.content.read())) as decoded:
        picture = decoded.convert("RGB")
    traits = image_traits(picture)
    if not gemini_api.gemini_configured():
        return _local_draft(
            traits,
            notes=(
                "Drafted locally from the image's colours, light and shape only (Gemini is not "
                "configured): write who the character is in the description and rename it."
            ),
        )
    picture.thumbnail((DRAFT_IMAGE_MAX_SIDE, DRAFT_IMAGE_MAX_SIDE))
    png = io.BytesIO()
    picture.save(png, format="PNG")
    try:
        answer = gemini_api.persona_draft_request(image_png=png.getvalue())
    except gemini_api.GeminiUnavailable as exc:
        return _local_draft(
            traits,
            notes=(
                f"Gemini was unavailable ({exc}), so this was drafted locally from colours, "
                "light and shape only: write who the character is and rename it."
            ),
        )
    palette = [p for p in (_valid_hex(v) for v in answer.palette) if p][:8] or traits.palette
    name_max = Persona._meta.get_field("name").max_length
    return PersonaDraft(
        name=" ".join(answer.name.split())[:name_max] or _local_draft(traits, notes="").name,
        description=answer.description.strip()[: Persona._meta.get_field("description").max_length],
        style=answer.style.strip()[: Persona._meta.get_field("style").max_length],
        palette=list(dict.fromkeys(palette)),
        source="gemini",
        notes=answer.notes.strip() or "Drafted by Gemini: check it before saving.",
    )
