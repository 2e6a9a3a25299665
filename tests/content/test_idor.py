"""IDOR matrix: two users, every persona and content endpoint (lists and actions included).

A stranger never sees, changes, reports or moderates the owner's private objects: each call
answers 404 (never 403), and nothing changes.
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.content.models import ContentItem, ModerationAction, Report
from apps.personas.models import Persona
from tests.content.conftest import make_item
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(user):
    persona = Persona.objects.create(user=user, name="Nova", description="owner's text")
    persona.reference_image.save("r.png", upload(png_bytes()), save=True)
    item = make_item(user, persona=persona)
    return persona, item


API_CALLS = [
    ("get", "/api/v1/personas/{persona}/", None),
    ("patch", "/api/v1/personas/{persona}/", {"name": "stolen"}),
    ("delete", "/api/v1/personas/{persona}/", None),
    ("get", "/media/personas/{persona}/reference", None),
    ("get", "/api/v1/content/{item}/", None),
    ("patch", "/api/v1/content/{item}/", {"visibility": "public"}),
    ("post", "/api/v1/content/{item}/report/", {"reason": "spam"}),
    ("post", "/api/v1/content/{item}/moderate/", {"action": "reject", "reason": "x"}),
    ("get", "/media/content/{item}/video", None),
    ("get", "/media/content/{item}/thumbnail", None),
    ("get", "/media/generations/{generation}/video", None),
]

PAGE_CALLS = [
    ("get", "/personas/{persona}/"),
    ("get", "/personas/{persona}/edit/"),
    ("post", "/personas/{persona}/edit/"),
    ("post", "/personas/{persona}/delete/"),
    ("get", "/v/{item}/"),
    ("post", "/v/{item}/settings/"),
    ("post", "/v/{item}/report/"),
]


def _url(template: str, persona: Persona, item: ContentItem) -> str:
    return template.format(persona=persona.pk, item=item.pk, generation=item.generation_id)


def _snapshot(persona: Persona, item: ContentItem) -> tuple:
    persona.refresh_from_db()
    item.refresh_from_db()
    return (
        persona.name,
        persona.description,
        item.visibility,
        item.moderation_status,
        item.reports_count,
        Report.objects.count(),
        ModerationAction.objects.count(),
    )


@pytest.mark.parametrize(("method", "template", "body"), API_CALLS)
def test_api_answers_404_to_a_stranger(api_for, other_user, owned, method, template, body):
    persona, item = owned
    before = _snapshot(persona, item)
    response = getattr(api_for(other_user), method)(
        _url(template, persona, item), body, format="json"
    )
    assert response.status_code == 404
    assert Persona.objects.filter(pk=persona.pk).exists()
    assert _snapshot(persona, item) == before


@pytest.mark.parametrize(("method", "template"), PAGE_CALLS)
def test_pages_answer_404_to_a_stranger(other_user, owned, method, template):
    persona, item = owned
    client = Client()
    client.force_login(other_user)
    before = _snapshot(persona, item)
    data = {"name": "stolen", "visibility": "public", "title": "x", "reason": "spam"}
    response = getattr(client, method)(_url(template, persona, item), data)
    assert response.status_code == 404
    assert Persona.objects.filter(pk=persona.pk).exists()
    assert _snapshot(persona, item) == before


def test_lists_show_a_stranger_nothing_of_the_owner(api_for, other_user, owned):
    persona, item = owned
    ContentItem.objects.filter(pk=item.pk).update(moderation_status="approved")
    client = api_for(other_user)
    assert client.get("/api/v1/personas/").json()["count"] == 0
    assert client.get("/api/v1/content/mine/").json()["count"] == 0
    assert client.get("/api/v1/content/").json()["count"] == 0  # private, though approved
    pages = Client()
    pages.force_login(other_user)
    assert str(persona.pk) not in pages.get("/personas/").content.decode()
    assert str(item.pk) not in pages.get("/gallery/").content.decode()
    assert str(item.pk) not in pages.get("/explore/").content.decode()


def test_a_stranger_cannot_generate_with_the_owners_persona(api_for, other_user, owned):
    persona, _ = owned
    response = api_for(other_user).post(
        "/api/v1/generations/",
        {"kind": "image_to_video", "engine": "procedural", "persona": str(persona.pk)},
        format="json",
    )
    assert response.status_code == 400
    assert "persona" in response.json()


def test_the_owner_reaches_every_endpoint(api, owned):
    persona, item = owned
    for method, template, body in API_CALLS:
        if method == "delete" or template.endswith("/report/") or "moderate" in template:
            continue
        response = getattr(api, method)(_url(template, persona, item), body, format="json")
        assert response.status_code == 200, (template, response.status_code)


@pytest.mark.parametrize(("method", "template", "body"), API_CALLS[4:8])
def test_read_only_for_others_once_shared(api_for, other_user, owned, method, template, body):
    """A public, approved item is readable by all; changing or moderating it stays a 404."""
    persona, item = owned
    ContentItem.objects.filter(pk=item.pk).update(visibility="public", moderation_status="approved")
    response = getattr(api_for(other_user), method)(
        _url(template, persona, item), body, format="json"
    )
    expected = {"get": 200, "patch": 404}.get(method)
    if template.endswith("/report/"):
        expected = 201  # anyone signed in who can see it may report it
    if "moderate" in template:
        expected = 404
    assert response.status_code == expected
    item.refresh_from_db()
    assert item.visibility == "public" and item.moderation_status == "approved"
