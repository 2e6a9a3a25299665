"""Reads of storyboards: their scenes, for the API and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from ..models import Generation, StoryboardScene


def storyboard_scenes(*, generation: Generation) -> QuerySet[StoryboardScene]:
    """The storyboard's scenes in order (none for other kinds)."""
    return StoryboardScene.objects.filter(generation=generation).order_by("index")


def storyboard_scene_clip(*, generation: Generation, index: int) -> StoryboardScene | None:
    """The scene at `index` when it has its clip, else None."""
    scene = storyboard_scenes(generation=generation).filter(index=index).first()
    return scene if scene is not None and scene.video else None
