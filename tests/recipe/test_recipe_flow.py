"""The recipe end to end: a job and a storyboard through the API and a real Celery worker record
`generation_time` and the recipe; the API returns them and the job page shows them."""

from __future__ import annotations

import re
import time
import tomllib
from html import unescape
from pathlib import Path

import diffusers
import pytest
import torch
from django.test import Client

from apps.generation.models import Generation, StoryboardScene
from tests.storyboard.conftest import storyboard_body, text_scene
from workers.engines.procedural import ProceduralEngine

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
FINISHED = ("succeeded", "failed", "canceled")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PLATFORM = tomllib.loads(PYPROJECT.read_text())["project"]["version"]


def _poll(api, generation_id, *, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/generations/{generation_id}/").json()
        if body["status"] in FINISHED:
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last seen: {body['status']} {body['stage']}")


def _rows(html: str) -> dict[str, str]:
    """The job page's recipe rows that carry a data-field, by field."""
    found = re.findall(r'<dd data-field="(\w+)">([^<]*)</dd>', html)
    return {name: unescape(value) for name, value in found}


def _check_procedural_recipe(recipe: dict) -> None:
    assert recipe["engine"] == "procedural"
    assert recipe["model"] == "procedural"
    assert recipe["model_revision"] == ProceduralEngine.version
    assert recipe["model_revision_source"] == "engine_version"
    assert recipe["device"] == "cpu"
    versions = recipe["versions"]
    assert versions["platform"] == PLATFORM
    assert versions["torch"] == torch.__version__
    assert versions["diffusers"] == diffusers.__version__
    assert versions["ffmpeg"].startswith("ffmpeg version ")


def test_a_procedural_job_records_its_recipe_and_the_page_shows_it(api, user, worker):
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "text_to_video",
            "engine": "procedural",
            "prompt": "a neon fox",
            "params": {"width": 128, "height": 96, "fps": 8, "num_frames": 8, "seed": 41},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["generation_time"] is None and created["recipe"] == {}

    done = _poll(api, created["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["generation_time"] > 0
    _check_procedural_recipe(done["recipe"])
    row = Generation.objects.get(pk=created["id"])
    assert row.generation_time == done["generation_time"]
    assert row.recipe == done["recipe"]

    browser = Client()
    browser.force_login(user)
    html = browser.get(f"/jobs/{row.pk}/").content.decode()
    rows = _rows(html)
    assert rows["model"] == f"procedural@{ProceduralEngine.version}"
    assert rows["device"] == "cpu"
    assert rows["generation_time"] == f"{row.generation_time:.2f} s"
    assert f"AI Lounge {PLATFORM}" in rows["versions"]
    assert f"torch {torch.__version__}" in rows["versions"]
    assert f"diffusers {diffusers.__version__}" in rows["versions"]
    assert "ffmpeg " in rows["versions"]
    assert '<span data-field="seed">41</span>' in html
    # "Reuse settings" still fills the create form from this job.
    assert f'href="/create/?reuse={row.pk}"' in html
    page = browser.get(f"/create/?reuse={row.pk}")
    assert page.status_code == 200
    assert "a neon fox" in page.content.decode()


def test_a_storyboard_records_each_scene_and_their_sum(api, worker):
    scenes = [text_scene("neon rain"), text_scene("a fox at dawn")]
    response = api.post("/api/v1/generations/", storyboard_body(scenes), format="json")
    assert response.status_code == 201, response.content

    done = _poll(api, response.json()["id"], timeout=180)

    assert done["status"] == "succeeded", done["error"]
    rows = list(StoryboardScene.objects.filter(generation_id=done["id"]).order_by("index"))
    assert all(scene.generation_time > 0 for scene in rows)
    for scene, body in zip(rows, done["scenes"], strict=True):
        assert body["generation_time"] == scene.generation_time
        _check_procedural_recipe(body["recipe"])
    assert done["generation_time"] == pytest.approx(sum(s.generation_time for s in rows))
    _check_procedural_recipe(done["recipe"])  # the scenes share everything here
