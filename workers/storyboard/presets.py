"""Quality presets and transition names for storyboards.

A preset fixes the size, frame rate and H.264 quality (CRF) of the merged video; every scene clip
is conformed to it. A transition name is what users write (``fade``, ``wipe``, ...); ``XFADE``
says which ffmpeg ``xfade`` transition draws it (``cut`` has none: the scenes are concatenated).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    width: int
    height: int
    fps: int
    crf: int


QUALITY_PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("draft", 854, 480, 24, 28),
        Preset("standard", 1280, 720, 30, 23),
        Preset("high", 1920, 1080, 30, 20),
        Preset("premium", 3840, 2160, 60, 18),
    )
}
DEFAULT_QUALITY = "standard"

# The transition into the next scene → the ffmpeg xfade transition that draws it.
XFADE: dict[str, str | None] = {
    "cut": None,  # no overlap: the next scene starts after the last frame of this one
    "fade": "fadeblack",  # out to black, then in from black
    "crossfade": "fade",  # a direct blend of the two scenes
    "wipe": "wipeleft",  # the next scene wipes in from the right edge
    "slide": "slideleft",  # the next scene pushes this one out to the left
    "zoom": "zoomin",  # this scene zooms in and blends into the next
    "dissolve": "dissolve",  # a blend through random-pixel noise (texture)
}
TRANSITIONS: tuple[str, ...] = tuple(XFADE)
DEFAULT_TRANSITION = "crossfade"
DEFAULT_TRANSITION_DURATION = 0.5  # seconds


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ``ValueError`` naming the choices when there is none."""
    try:
        return QUALITY_PRESETS[name]
    except KeyError:
        choices = ", ".join(QUALITY_PRESETS)
        raise ValueError(f"unknown quality preset {name!r}; choose one of {choices}") from None
