"""Content fixtures: succeeded generations with real (small) media files, made through the
generation services so the library hook runs as it does after a worker finishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.content.models import ContentItem
from apps.generation import services as generation_services
from tests.factories import UserFactory

VIDEO_BYTES = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8
THUMB_BYTES = b"\xff\xd8\xff\xe0" + b"\x10" * 500

Visibility = ContentItem.Visibility
Status = ContentItem.ModerationStatus


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    """Generations are created but never sent to Celery; the ids are recorded."""
    sent = []
    monkeypatch.setattr(
        generation_services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def finish_generation(generation) -> None:
    """What a worker does: running, files written, succeeded (which creates the library item)."""
    generation_services.generation_mark_running(generation_id=generation.pk, worker="test")
    folder = Path(settings.MEDIA_ROOT) / "generations" / str(generation.pk)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "video.mp4").write_bytes(VIDEO_BYTES)
    (folder / "thumb.jpg").write_bytes(THUMB_BYTES)
    won = generation_services.generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=f"generations/{generation.pk}/video.mp4",
        thumbnail_name=f"generations/{generation.pk}/thumb.jpg",
        width=320,
        height=192,
        fps=8,
        num_frames=8,
        duration_seconds=1.0,
        engine="procedural",
        notes=[],
    )
    assert won
    generation.refresh_from_db()


def make_item(
    user=None,
    *,
    prompt: str = "a neon koi in the rain",
    visibility: str = Visibility.PRIVATE,
    status: str | None = None,
    persona=None,
) -> ContentItem:
    user = user or UserFactory()
    generation = generation_services.generation_create(
        user=user,
        kind="text_to_video",
        engine="procedural",
        prompt=prompt,
        persona=persona,
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8},
    ).generation
    finish_generation(generation)
    item = ContentItem.objects.get(generation=generation)
    changes = {"visibility": visibility}
    if status is not None:
        changes["moderation_status"] = status
    ContentItem.objects.filter(pk=item.pk).update(**changes)
    item.refresh_from_db()
    return item


@pytest.fixture
def item_factory(db):
    return make_item
