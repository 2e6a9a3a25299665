"""The REST contract: fields, states, validation, ownership and upload safety."""

import json
import types
from pathlib import Path

import pytest
from django.conf import settings

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation import services
from apps.generation.models import Generation
from tests.images import SVG, decompression_bomb_png, png_bytes, upload

pytestmark = pytest.mark.django_db

CONTRACT_FIELDS = {
    "id",
    "kind",
    "engine",
    "status",
    "stage",
    "progress",
    "queue_position",
    "eta_seconds",
    "prompt",
    "params",
    "persona",
    "cost_credits",
    "seed",
    "error",
    "video_url",
    "thumbnail_url",
    "width",
    "height",
    "fps",
    "num_frames",
    "duration_seconds",
    "created_at",
    "started_at",
    "finished_at",
}


@pytest.fixture(autouse=True)
def enqueued(monkeypatch):
    sent = []
    monkeypatch.setattr(
        services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def uploads_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "uploads"


def stored_uploads() -> list[Path]:
    return [p for p in uploads_dir().rglob("*") if p.is_file()] if uploads_dir().exists() else []


def test_token_obtain_and_me(client, user):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "pass-word-123"},
        content_type="application/json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Token {token}")
    assert me.json() == {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "credits": settings.FREE_CREDITS,
    }


def test_token_obtain_rejects_bad_password(client, user):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": user.username, "password": "nope"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_credentials"


def test_anonymous_is_refused(client):
    response = client.get("/api/v1/generations/")
    assert response.status_code == 401
    assert "detail" in response.json()


def test_create_text_to_video_returns_the_contract(
    api, user, django_capture_on_commit_callbacks, enqueued
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/generations/",
            {
                "kind": "text_to_video",
                "prompt": "a fox in the snow",
                "params": {"num_frames": 8, "seed": 7},
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) >= CONTRACT_FIELDS
    assert body["status"] == "queued"
    assert body["queue_position"] == 1
    assert body["engine"] == "procedural"
    assert body["seed"] == 7 and body["params"]["num_frames"] == 8
    assert body["video_url"] is None
    assert enqueued == [Generation.objects.get().pk]


@pytest.mark.usefixtures("clean_eta")
def test_the_list_gives_each_job_the_position_and_eta_of_its_own_page(
    api, user, other_user, monkeypatch
):
    """The list batches positions and ETAs (one estimate per queue): the figures are the ones
    each job's own page gives, and the queries do not grow with the number of queued jobs."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.generation import eta

    def queue(owner, n, **params):
        return [
            services.generation_create(
                user=owner,
                kind="text_to_video",
                prompt=f"a lantern {i}",
                params={"num_frames": 8, "width": 128, "height": 72, **params},
            ).generation
            for i in range(n)
        ]

    # A published running ETA counts down with the clock; stop eta's clock so the list and the
    # job pages, read a few milliseconds apart, are compared at one instant.
    monkeypatch.setattr(eta, "time", types.SimpleNamespace(time=lambda: 1_800_000_000.0))
    ahead = queue(other_user, 2)  # someone else's jobs are ahead in the same queue
    eta.sample_record(shape=eta.job_shape(ahead[0]), pre=1.0, step=0.5, post=0.5)
    services.generation_mark_running(generation_id=ahead[0].pk, worker="w")
    # Its reporter's figure, so the ETAs do not depend on the row's started_at.
    eta.running_publish(generation_id=ahead[0].pk, eta_seconds=3.0)
    mine = queue(user, 3)

    def listing():
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/generations/")
        assert response.status_code == 200
        return response.json()["results"], len(queries)

    results, few = listing()
    assert [r["queue_position"] for r in results] == [4, 3, 2]  # newest first
    for row in results:
        own = api.get(f"/api/v1/generations/{row['id']}/").json()
        assert (row["queue_position"], row["eta_seconds"]) == (
            own["queue_position"],
            own["eta_seconds"],
        )
        assert row["eta_seconds"] is not None
    queue(user, 6)
    results, many = listing()
    assert len(results) == 9 and results[-1]["id"] == str(mine[0].pk)
    assert many == few


def test_create_image_to_video_multipart_stores_a_reencoded_png(api):
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "image_to_video",
            "image": upload(png_bytes(), "me.jpg", "image/jpeg"),
            "params": json.dumps({"motion_strength": 0.8, "num_frames": 8}),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    generation = Generation.objects.get()
    assert generation.input_image.name.endswith(".png")
    assert generation.params["motion_strength"] == 0.8
    assert Path(generation.input_image.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("notes.png", b"this is plain text, not an image", "not a readable image"),
        ("cut.png", png_bytes()[:200], "not a readable image"),
        ("bomb.png", decompression_bomb_png(), "pixels"),
        ("empty.png", b"", "empty"),
        ("vector.svg", SVG, "not a readable image"),
    ],
)
def test_bad_uploads_are_refused_and_leave_nothing(api, user, name, data, message):
    before = stored_uploads()
    balance = credits_balance(user=user)
    response = api.post(
        "/api/v1/generations/",
        {"kind": "image_to_video", "image": upload(data, name)},
        format="multipart",
    )
    assert response.status_code == 400
    body = response.json()
    assert message in body["detail"]
    assert Generation.objects.count() == 0
    assert credits_balance(user=user) == balance
    assert not LedgerEntry.objects.filter(kind="spend").exists()
    assert stored_uploads() == before


def test_gif_is_refused_by_content(api):
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (100, 100)).save(out, format="GIF")
    response = api.post(
        "/api/v1/generations/",
        {"kind": "image_to_video", "image": upload(out.getvalue(), "a.png")},
        format="multipart",
    )
    assert response.status_code == 400
    assert "GIF" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "text_to_video"}, "prompt"),
        ({"kind": "text_to_video", "prompt": "x", "params": {"num_frames": 1000}}, "params"),
        ({"kind": "text_to_video", "prompt": "x", "params": {"frames": 8}}, "params"),
        ({"kind": "text_to_video", "prompt": "x", "params": {"width": 100}}, "params"),
        ({"kind": "text_to_video", "prompt": "x", "engine": "svd"}, None),
        ({"kind": "image_to_video"}, "image"),
        ({"kind": "video_to_video", "prompt": "x"}, "kind"),
        ({"kind": "text_to_video", "prompt": "x", "colour": "red"}, "colour"),
    ],
)
def test_invalid_bodies_get_400_with_detail(api, body, field):
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 400, response.json()
    payload = response.json()
    assert payload["detail"]
    if field:
        assert field in payload
    assert Generation.objects.count() == 0


def test_other_users_generation_is_404_everywhere(api, api_for, other_user):
    created = api.post(
        "/api/v1/generations/", {"kind": "text_to_video", "prompt": "mine"}, format="json"
    ).json()
    stranger = api_for(other_user)
    assert stranger.get(f"/api/v1/generations/{created['id']}/").status_code == 404
    assert stranger.post(f"/api/v1/generations/{created['id']}/cancel/").status_code == 404
    assert stranger.get("/api/v1/generations/").json()["results"] == []
    assert stranger.get(f"/media/generations/{created['id']}/video").status_code == 404


def test_list_is_newest_first_and_paginated(api):
    ids = [
        api.post(
            "/api/v1/generations/", {"kind": "text_to_video", "prompt": f"p{i}"}, format="json"
        ).json()["id"]
        for i in range(3)
    ]
    body = api.get("/api/v1/generations/").json()
    assert body["count"] == 3
    assert [g["id"] for g in body["results"]] == list(reversed(ids))


def test_cancel_queued_refunds(api, user):
    created = api.post(
        "/api/v1/generations/", {"kind": "text_to_video", "prompt": "x"}, format="json"
    ).json()
    response = api.post(f"/api/v1/generations/{created['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert credits_balance(user=user) == settings.FREE_CREDITS
    again = api.post(f"/api/v1/generations/{created['id']}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] == "not_cancelable"


def test_quote_uses_the_charge_price(api):
    quote = api.get("/api/v1/generations/quote/", {"kind": "text_to_video", "num_frames": 16})
    assert quote.status_code == 200
    created = api.post(
        "/api/v1/generations/",
        {"kind": "text_to_video", "prompt": "x", "params": {"num_frames": 16}},
        format="json",
    ).json()
    assert quote.json()["credits"] == created["cost_credits"]


def test_openapi_schema_and_docs_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_quote_with_a_persona_uses_its_defaults_like_the_charge(api, user, other_user, settings):
    from apps.personas.models import Persona

    settings.ZEROSCOPE_MODEL = "some/model"  # priced by the work, so the defaults show
    persona = Persona.objects.create(user=user, name="Kit", defaults={"num_inference_steps": 40})
    plain = api.get("/api/v1/generations/quote/", {"kind": "text_to_video", "num_frames": 24})
    quote = api.get(
        "/api/v1/generations/quote/",
        {"kind": "text_to_video", "num_frames": 24, "persona": str(persona.pk)},
    )
    assert quote.status_code == 200, quote.json()
    assert quote.json()["credits"] > plain.json()["credits"]
    created = api.post(
        "/api/v1/generations/",
        {
            "kind": "text_to_video",
            "prompt": "x",
            "persona": str(persona.pk),
            "params": {"num_frames": 24},
        },
        format="json",
    ).json()
    assert created["cost_credits"] == quote.json()["credits"]
    board = {"kind": "storyboard", "scene_count": 2, "duration": 3}
    plain_board = api.get("/api/v1/generations/quote/", board).json()
    persona_board = api.get(
        "/api/v1/generations/quote/", {**board, "persona": str(persona.pk)}
    ).json()
    assert persona_board["scenes"][0] > plain_board["scenes"][0]
    assert persona_board["credits"] == sum(persona_board["scenes"]) + persona_board["assembly"]

    theirs = Persona.objects.create(user=other_user, name="Not yours")
    refused = api.get(
        "/api/v1/generations/quote/", {"kind": "text_to_video", "persona": str(theirs.pk)}
    )
    assert refused.status_code == 400
    assert refused.json()["detail"] == "persona: No such persona."


def test_openapi_schema_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    schema = out.read_text()
    assert "/api/v1/generations/{id}/retry/" in schema
    assert "GenerationKindEnum" in schema
