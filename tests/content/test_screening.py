"""Screening before spending: a blocked prompt, negative prompt or persona text is a clear 400
at create time, and nothing is charged or created (API and page)."""

from __future__ import annotations

import pytest

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from apps.personas.models import Persona

pytestmark = pytest.mark.django_db

BODY = {
    "kind": "text_to_video",
    "engine": "procedural",
    "params": {"num_frames": 8, "width": 320, "height": 192},
}


@pytest.fixture(autouse=True)
def blocklist(settings):
    settings.CONTENT_BLOCKLIST = ["forbidden thing"]


def assert_nothing_charged(user, balance):
    assert credits_balance(user=user) == balance
    assert not Generation.objects.exists()
    assert not LedgerEntry.objects.filter(account__user=user, kind="spend").exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "a Forbidden   thing at night"},
        {"prompt": "a harbour", "negative_prompt": "blur, forbidden-thing"},
    ],
)
def test_blocked_prompts_are_refused_and_not_charged(api, user, fields):
    balance = credits_balance(user=user)
    response = api.post("/api/v1/generations/", {**BODY, **fields}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "prompt_blocked"
    assert "blocked phrase" in body["detail"] and "nothing was charged" in body["detail"]
    assert_nothing_charged(user, balance)


def test_a_persona_whose_text_became_blocked_is_refused(api, user):
    # Written before the blocklist grew (directly, as a data migration or old row would be).
    persona = Persona.objects.create(user=user, name="Old", style="a forbidden thing")
    balance = credits_balance(user=user)
    response = api.post(
        "/api/v1/generations/",
        {**BODY, "prompt": "a harbour", "persona": str(persona.pk)},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "prompt_blocked"
    assert_nothing_charged(user, balance)


def test_the_create_page_refuses_too(client, user):
    client.force_login(user)
    balance = credits_balance(user=user)
    response = client.post(
        "/create/",
        {"kind": "text_to_video", "prompt": "forbidden thing", "size": "320x192"},
    )
    assert response.status_code == 400
    assert "blocked phrase" in response.content.decode()
    assert_nothing_charged(user, balance)


def test_clean_prompts_still_go_through(api, user, monkeypatch):
    from apps.generation import services

    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)
    response = api.post("/api/v1/generations/", {**BODY, "prompt": "a harbour"}, format="json")
    assert response.status_code == 201
