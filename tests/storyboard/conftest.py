"""Storyboard orchestration fixtures: enqueues caught in-process, small bodies, media helpers."""

from __future__ import annotations

import io
import json

import pytest

from apps.generation.models import Generation, StoryboardScene
from apps.generation.storyboards import running as storyboards
from apps.generation.storyboards.tasks import storyboard_assemble, storyboard_scene_run
from tests.images import png_bytes, upload
from tests.workers.storyboard.media_files import write_tone

# Small, fast scenes: the procedural engine at 128×96, 8 fps.
SMALL = {"width": 128, "height": 96, "fps": 8, "num_frames": 8}


def text_scene(prompt: str = "neon rain over a harbour", **extra) -> dict:
    return {"prompt": prompt, "duration": 1.0, "engine": "procedural", "params": SMALL, **extra}


def storyboard_body(scenes=None, **extra) -> dict:
    return {
        "kind": "storyboard",
        "engine": "procedural",
        "quality": "draft",
        "scenes": scenes if scenes is not None else [text_scene(), text_scene("a fox at dawn")],
        **extra,
    }


def multipart(body: dict, **files) -> dict:
    """A multipart form of `body` (JSON fields as strings) plus the given files."""
    form = {
        k: json.dumps(v)
        if isinstance(v, list | dict)
        else str(v).lower()
        if isinstance(v, bool)
        else v
        for k, v in body.items()
    }
    form.update(files)
    return form


def png_upload(name: str = "scene.png", **kwargs):
    return upload(png_bytes(**kwargs), name)


def wav_bytes(seconds: float = 1.5, tmp_path=None) -> bytes:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = write_tone(Path(d) / "tone.wav", seconds=seconds)
        return path.read_bytes()


def wav_upload(seconds: float = 1.5, name: str = "voice.wav"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, wav_bytes(seconds), content_type="audio/wav")


class Queue:
    """Stands in for the broker: records what would be sent; `drain()` runs it in-process."""

    def __init__(self):
        self.scenes: list[str] = []
        self.assemblies: list[str] = []

    def drain(self, limit: int = 50) -> list[str]:
        results = []
        for _ in range(limit):
            if self.scenes:
                results.append(storyboard_scene_run.apply(args=[self.scenes.pop(0)]).get())
            elif self.assemblies:
                results.append(storyboard_assemble.apply(args=[self.assemblies.pop(0)]).get())
            else:
                break
        return results


@pytest.fixture
def gemini_fake():
    from tests.workers.storyboard.gemini_fake import running_gemini

    with running_gemini() as fake:
        yield fake


@pytest.fixture
def queue(monkeypatch) -> Queue:
    q = Queue()
    monkeypatch.setattr(storyboards, "_scene_enqueue", lambda scene: q.scenes.append(str(scene.pk)))
    monkeypatch.setattr(
        storyboard_assemble, "apply_async", lambda args, **options: q.assemblies.append(args[0])
    )
    return q


def scenes_of(generation: Generation) -> list[StoryboardScene]:
    return list(StoryboardScene.objects.filter(generation=generation).order_by("index"))


__all__ = ["io", "multipart", "png_upload", "storyboard_body", "text_scene", "wav_upload"]
