"""Storyboards, the media side: scene clips → one narrated MP4, plus story splitting.

Free of Django: functions take plain parameters and return files or dataclasses; the storyboard
tasks in apps/generation call them. See docs/storyboards.md.

- ``assemble``: ``assemble_storyboard`` (one ffmpeg run: conform, transitions, narration)
- ``presets``: quality presets and transition names
- ``frames``: first/last frame of a clip as PNG (chained scenes)
- ``audio``: narration probing/validation, espeak-ng text-to-speech
- ``subtitles``: narration text → WebVTT
- ``story``: story text → scenes (Gemini structured JSON, or local)
"""

from workers.storyboard.assemble import (
    AssemblyError,
    AssemblyResult,
    ClipSpec,
    Timeline,
    assemble_storyboard,
    plan_timeline,
)
from workers.storyboard.presets import QUALITY_PRESETS, TRANSITIONS, Preset, get_preset

__all__ = [
    "QUALITY_PRESETS",
    "TRANSITIONS",
    "AssemblyError",
    "AssemblyResult",
    "ClipSpec",
    "Preset",
    "Timeline",
    "assemble_storyboard",
    "get_preset",
    "plan_timeline",
]
