"""Persona pages: list, detail, create (with "character from image"), edit, delete; only the
owner's personas, with the same rules as the API."""

from __future__ import annotations

import pytest

from apps.personas.models import Persona
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def persona(user):
    return Persona.objects.create(user=user, name="Nova", description="a courier", style="noir")


@pytest.mark.parametrize("path", ["/personas/", "/personas/new/"])
def test_anonymous_visitors_are_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_list_shows_own_personas_with_use_in_create(signed_in, persona, other_user):
    Persona.objects.create(user=other_user, name="Not mine")
    page = signed_in.get("/personas/").content.decode()
    assert "Nova" in page and "Not mine" not in page
    assert f'href="/create/?persona={persona.pk}"' in page


def test_create_page_saves_a_persona_with_defaults_and_reference_image(signed_in, user):
    response = signed_in.post(
        "/personas/new/",
        {
            "name": "  Robo  ",
            "description": "a small silver robot",
            "style": "rim light",
            "seed": "42",
            "motion_strength": "0.4",
            "quality": "",
            "reference_image": upload(png_bytes()),
        },
    )
    persona = Persona.objects.get(user=user)
    assert response.status_code == 302 and response["Location"] == f"/personas/{persona.pk}/"
    assert persona.name == "Robo"
    assert persona.defaults == {"seed": 42, "motion_strength": 0.4}
    assert persona.reference_image
    detail = signed_in.get(f"/personas/{persona.pk}/").content.decode()
    assert "a small silver robot" in detail
    assert f"/media/personas/{persona.pk}/reference" in detail


def test_create_page_shows_the_apis_errors_beside_the_fields(signed_in, settings):
    response = signed_in.post("/personas/new/", {"name": "X", "motion_strength": "7"})
    assert response.status_code == 400
    assert "motion_strength" in response.content.decode()
    settings.CONTENT_BLOCKLIST = ["evil plan"]
    response = signed_in.post("/personas/new/", {"name": "X", "style": "an evil plan"})
    assert response.status_code == 400
    assert "blocked phrase" in response.content.decode()
    assert not Persona.objects.exists()


def test_draft_page_fills_the_form_from_the_image(signed_in, settings):
    settings.GEMINI_API_KEY = ""
    response = signed_in.post(
        "/personas/draft/", {"image": upload(png_bytes(400, 200, color=(20, 60, 230)))}
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-draft-source="local"' in page
    assert 'value="Blue character"' in page
    assert "#" in page and "Palette" in page
    assert not Persona.objects.exists()


def test_edit_keeps_api_only_defaults_and_can_remove_the_image(signed_in, persona):
    persona.defaults = {"noise_aug_strength": 0.1, "seed": 5}
    persona.reference_image.save("r.png", upload(png_bytes()), save=True)
    response = signed_in.post(
        f"/personas/{persona.pk}/edit/",
        {"name": "Nova", "description": "new words", "fps": "10", "remove_reference_image": "on"},
    )
    assert response.status_code == 302
    persona.refresh_from_db()
    assert persona.description == "new words"
    assert persona.defaults == {"noise_aug_strength": 0.1, "fps": 10}
    assert not persona.reference_image


def test_delete_page(signed_in, persona):
    response = signed_in.post(f"/personas/{persona.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/personas/"
    assert not Persona.objects.filter(pk=persona.pk).exists()
