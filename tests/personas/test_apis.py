"""The personas REST contract: fields, strict input, validated defaults, reference images,
screening and ownership (another user's persona is a 404)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.personas.models import Persona
from tests.images import SVG, png_bytes, upload

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "name",
    "description",
    "style",
    "reference_image",
    "defaults",
    "created_at",
    "updated_at",
}


def stored(persona: Persona) -> Path:
    return Path(settings.MEDIA_ROOT) / persona.reference_image.name


def test_create_json_returns_the_contract_fields(api):
    response = api.post(
        "/api/v1/personas/",
        {
            "name": "Captain Nova",
            "description": "a space courier in an orange jacket",
            "style": "retro sci-fi, film grain",
            "defaults": {"seed": 7, "motion_strength": 0.3, "fps": 8},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS
    assert body["name"] == "Captain Nova"
    assert body["defaults"] == {"seed": 7, "motion_strength": 0.3, "fps": 8}
    assert body["reference_image"] is None


def test_create_multipart_with_reference_image_serves_it_to_the_owner(api, user):
    response = api.post(
        "/api/v1/personas/",
        {
            "name": "Mascot",
            "defaults": '{"num_frames": 16}',
            "reference_image": upload(png_bytes(200, 120)),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    persona = Persona.objects.get(pk=body["id"])
    assert persona.user == user and persona.defaults == {"num_frames": 16}
    assert stored(persona).is_file()
    assert body["reference_image"].endswith(f"/media/personas/{persona.pk}/reference")
    image = api.get(body["reference_image"])
    assert image.status_code == 200
    assert b"".join(image.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("defaults", "key"),
    [
        ({"colour": "red"}, "colour"),
        ({"seed": -1}, "seed"),
        ({"motion_strength": 3}, "motion_strength"),
        ({"fps": "fast"}, "fps"),
        ({"quality": "ultra"}, "quality"),
        ({"width": 100}, "width"),
        ({"num_frames": 1000}, "num_frames"),
    ],
)
def test_defaults_must_be_known_parameters_with_valid_values(api, defaults, key):
    response = api.post("/api/v1/personas/", {"name": "Bad", "defaults": defaults}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"].startswith(f"defaults: {key}:")
    assert key in body["defaults"]
    assert not Persona.objects.exists()


def test_unknown_fields_and_missing_name_are_refused(api):
    assert (
        api.post("/api/v1/personas/", {"name": "A", "mood": "x"}, format="json").status_code == 400
    )
    response = api.post("/api/v1/personas/", {"description": "no name"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_names_are_unique_per_user(api, api_for, other_user):
    assert api.post("/api/v1/personas/", {"name": "Nova"}, format="json").status_code == 201
    again = api.post("/api/v1/personas/", {"name": "nova"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "persona_name_taken"
    # Another user may use the same name.
    other = api_for(other_user).post("/api/v1/personas/", {"name": "Nova"}, format="json")
    assert other.status_code == 201


def test_reference_image_is_checked_like_generation_uploads(api):
    response = api.post(
        "/api/v1/personas/",
        {"name": "Vector", "reference_image": upload(SVG, "x.svg", "image/svg+xml")},
        format="multipart",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image"
    assert response.json()["detail"].startswith("reference_image:")
    assert not Persona.objects.exists()


def test_list_is_own_personas_newest_first_and_paginated(api, api_for, other_user):
    for name in ("One", "Two"):
        api.post("/api/v1/personas/", {"name": name}, format="json")
    api_for(other_user).post("/api/v1/personas/", {"name": "Theirs"}, format="json")
    body = api.get("/api/v1/personas/").json()
    assert body["count"] == 2
    assert [p["name"] for p in body["results"]] == ["Two", "One"]


def test_patch_changes_given_fields_replaces_and_removes_the_image(api):
    created = api.post(
        "/api/v1/personas/",
        {"name": "Nova", "style": "noir", "reference_image": upload(png_bytes())},
        format="multipart",
    ).json()
    persona = Persona.objects.get(pk=created["id"])
    first = stored(persona)
    response = api.patch(
        f"/api/v1/personas/{persona.pk}/",
        {"reference_image": upload(png_bytes(color=(10, 200, 10)))},
        format="multipart",
    )
    assert response.status_code == 200
    persona.refresh_from_db()
    assert persona.style == "noir" and persona.name == "Nova"
    assert stored(persona).is_file() and not first.exists()

    response = api.patch(
        f"/api/v1/personas/{persona.pk}/",
        {"description": "now described", "reference_image": None, "defaults": {"seed": 1}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["reference_image"] is None
    assert body["description"] == "now described" and body["defaults"] == {"seed": 1}
    persona.refresh_from_db()
    assert not persona.reference_image


def test_delete_removes_the_persona_and_its_image(api, django_capture_on_commit_callbacks):
    created = api.post(
        "/api/v1/personas/",
        {"name": "Gone", "reference_image": upload(png_bytes())},
        format="multipart",
    ).json()
    path = stored(Persona.objects.get(pk=created["id"]))
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/personas/{created['id']}/").status_code == 204
    assert not Persona.objects.filter(pk=created["id"]).exists()
    assert not path.exists()
    assert api.get(f"/api/v1/personas/{created['id']}/").status_code == 404


def test_persona_text_is_screened_against_the_blocklist(api, settings):
    settings.CONTENT_BLOCKLIST = ["forbidden phrase"]
    response = api.post(
        "/api/v1/personas/",
        {"name": "Nova", "style": "neon, Forbidden  Phrase, rain"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "prompt_blocked"
    assert not Persona.objects.exists()
    created = api.post("/api/v1/personas/", {"name": "Nova"}, format="json").json()
    patched = api.patch(
        f"/api/v1/personas/{created['id']}/", {"description": "a forbidden phrase"}, format="json"
    )
    assert patched.status_code == 400 and patched.json()["code"] == "prompt_blocked"
    assert Persona.objects.get(pk=created["id"]).description == ""


def test_a_generation_uses_the_personas_text_and_defaults(api, monkeypatch):
    from apps.generation import services

    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)
    persona = api.post(
        "/api/v1/personas/",
        {
            "name": "Nova",
            "description": "a courier in orange",
            "style": "film grain",
            "defaults": {"seed": 1234, "num_frames": 12, "motion_strength": 0.9},
        },
        format="json",
    ).json()
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "text_to_video",
            "engine": "procedural",
            "prompt": "running through rain",
            "persona": persona["id"],
            "params": {"width": 320, "height": 192},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["persona"] == persona["id"]
    assert body["seed"] == 1234 and body["params"]["num_frames"] == 12
    assert "motion_strength" not in body["params"]  # not a text_to_video parameter
    assert body["params"]["final_prompt"] == "running through rain, a courier in orange, film grain"


def test_anonymous_callers_are_refused(client):
    assert client.get("/api/v1/personas/").status_code in (401, 403)
    assert client.post("/api/v1/personas/draft/").status_code in (401, 403)
