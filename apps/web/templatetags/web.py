"""Small presentation helpers for the web pages."""

from __future__ import annotations

import copy
from datetime import timedelta

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()

KIND_LABELS = {
    "image_to_video": "Image → Video",
    "text_to_video": "Text → Video",
    "storyboard": "Storyboard",
}

# What a visitor reads for the engine that will run (or ran) a video. "auto" is the quote's
# answer for a storyboard whose scenes run on different engines.
ENGINE_LABELS = {
    "procedural": "procedural engine (CPU)",
    "svd": "Stable Video Diffusion (GPU)",
    "zeroscope": "Zeroscope (GPU)",
    "auto": "mixed engines",
}


@register.filter
def media_url(generation, name: str) -> str:
    """The access-checked URL of a generation's `video` or `thumbnail`, or "" when it has none."""
    if not getattr(generation, name, None):
        return ""
    return reverse("generation-media", kwargs={"pk": generation.pk, "name": name})


@register.filter
def without_help(field, drop=True):
    """The bound field with its help text left out (when `drop`), for a page that does not show
    it: Django points the input's aria-describedby at `<id>_helptext` whenever a field has help
    text, and that id would then name nothing. Its errors still describe it."""
    if not drop:
        return field
    bound = copy.copy(field)
    bound.help_text = ""
    return bound


@register.filter
def kind_label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


@register.filter
def engine_label(engine: str) -> str:
    return ENGINE_LABELS.get(engine, f"{engine} engine" if engine else "")


@register.filter
def ago(moment) -> str:
    """ "3 minutes ago", or "just now" within the first minute."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"
