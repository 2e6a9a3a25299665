"""Re-run tests: jobs made through the API, finished by hand where no worker is needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from apps.generation import services as generation_services
from apps.generation.models import Generation
from tests.images import png_bytes, upload
from tests.workers.conftest import fresh_engines, tiny_models  # noqa: F401

SMALL = {"width": 128, "height": 96, "fps": 8, "num_frames": 8, "seed": 41}


@pytest.fixture
def no_enqueue(monkeypatch):
    """Jobs are created and committed but never sent to Celery; their ids are recorded."""
    sent = []
    monkeypatch.setattr(
        generation_services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def create_text(api, *, engine: str = "procedural", **params) -> dict:
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "text_to_video",
            "engine": engine,
            "prompt": "a neon fox",
            "negative_prompt": "blur",
            "params": {**SMALL, **params},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def create_image(api, *, engine: str = "procedural", **params) -> dict:
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "image_to_video",
            "engine": engine,
            "params": json.dumps({**SMALL, **params}),
            "image": upload(png_bytes(160, 120), name="still.png"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def finish(generation_id, status: str = Generation.Status.SUCCEEDED) -> None:
    """Mark a job ended as a worker would leave it (status only; no worker ran it)."""
    Generation.objects.filter(pk=generation_id).update(status=status)


def media_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()}


def rerun(api, generation_id, body=None, *, key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post(
        f"/api/v1/generations/{generation_id}/rerun/", body or {}, format="json", **headers
    )
