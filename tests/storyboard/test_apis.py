"""The storyboard create body: strict validation that leaves nothing behind, pricing = quote,
story splitting, narration checks, the output contract, and the retry endpoint's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from apps.billing.models import LedgerEntry
from apps.billing.pricing import ASSEMBLY_PRICE
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation, StoryboardScene
from apps.generation.storyboards import planning
from apps.generation.storyboards import services as storyboards
from tests.images import png_bytes, upload
from tests.storyboard.conftest import (
    SMALL,
    multipart,
    png_upload,
    scenes_of,
    storyboard_body,
    text_scene,
    wav_upload,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    sent = []
    monkeypatch.setattr(
        storyboards, "storyboard_enqueue", lambda *, generation_id, **_: sent.append(generation_id)
    )
    return sent


def stored_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT) / "uploads"
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def assert_nothing_written(user, balance, files_before):
    assert Generation.objects.count() == 0
    assert StoryboardScene.objects.count() == 0
    assert not LedgerEntry.objects.filter(kind="spend").exists()
    assert credits_balance(user=user) == balance
    assert stored_files() == files_before


def test_create_from_scenes_charges_once_and_writes_one_row_per_scene(
    api, user, django_capture_on_commit_callbacks, no_broker
):
    body = storyboard_body(
        [
            text_scene(transition="wipe"),
            text_scene("a fox at dawn", duration=2.0),
            text_scene("the end"),
        ],
        transition="fade",
        transition_duration=0.25,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["kind"] == "storyboard" and data["status"] == "queued"
    assert data["cost_credits"] == 3 + ASSEMBLY_PRICE
    assert data["params"]["quality"] == "draft"
    assert data["params"]["transition_duration"] == 0.25
    assert data["subtitles_url"] is None and data["story_source"] is None
    assert [s["index"] for s in data["scenes"]] == [0, 1, 2]
    assert [s["transition"] for s in data["scenes"]] == ["wipe", "fade", "fade"]
    assert [s["duration"] for s in data["scenes"]] == [1.0, 2.0, 1.0]
    assert {s["status"] for s in data["scenes"]} == {"queued"}
    assert all(s["video_url"] is None for s in data["scenes"])
    # One spend for the whole storyboard, at create.
    spends = LedgerEntry.objects.filter(kind="spend")
    assert [(e.amount, e.reference) for e in spends] == [(-4, f"generation:{data['id']}")]
    assert credits_balance(user=user) == settings.FREE_CREDITS - 4
    assert no_broker == [Generation.objects.get().pk]
    scenes = scenes_of(Generation.objects.get())
    assert [s.charge_reference for s in scenes] == [
        f"storyboard:{data['id']}:scene:{i}" for i in range(3)
    ]
    assert [s.kind for s in scenes] == ["text_to_video"] * 3


def test_other_kinds_do_not_show_storyboard_fields(api):
    response = api.post(
        "/api/v1/generations/",
        {"kind": "text_to_video", "prompt": "x", "params": {"num_frames": 8}},
        format="json",
    )
    assert response.status_code == 201
    assert "scenes" not in response.json() and "subtitles_url" not in response.json()


def test_multipart_scene_images_make_image_to_video_scenes(api):
    body = storyboard_body(
        [text_scene(image=True, prompt=""), text_scene()], chain=False, transition="cut"
    )
    response = api.post(
        "/api/v1/generations/",
        multipart(body, scene_image_0=png_upload()),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    first, second = scenes_of(Generation.objects.get())
    assert first.kind == "image_to_video" and first.image.name.endswith(".png")
    assert second.kind == "text_to_video" and not second.image


def test_chain_makes_later_scenes_image_to_video(api):
    body = storyboard_body([text_scene(), text_scene(), text_scene()], chain=True)
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 201, response.json()
    assert [s.kind for s in scenes_of(Generation.objects.get())] == [
        "text_to_video",
        "image_to_video",
        "image_to_video",
    ]


BAD_BODIES = [
    ({"scenes": []}, "scenes"),
    ({"scenes": "not json"}, "scenes"),
    ({"scenes": [{"prompt": "x", "duration": 0.1}]}, "scenes[0]"),
    ({"scenes": [{"prompt": "x", "colour": "red"}]}, "scenes[0]"),
    ({"scenes": [{"prompt": "x", "transition": "spin"}]}, "scenes[0]"),
    ({"scenes": [{"prompt": ""}]}, "scenes[0]"),
    ({"scenes": [{"prompt": "x", "params": {"num_frames": 1000}}]}, "scenes[0].params"),
    ({"scenes": [{"prompt": "x", "image": True}]}, "scene_image_0"),
    ({"scenes": [text_scene()] * 11}, "at most 10"),
    ({"story": "Once upon a time."}, "either scenes or a story"),
    ({"quality": "ultra"}, "quality"),
    ({"transition": "spin"}, "transition"),
    ({"transition_duration": 5}, "transition_duration"),
    ({"scenes": [{"prompt": "x", "engine": "svd"}]}, "engine"),
    ({"params": {"num_frame": 8}}, "params: num_frame: Unknown parameter"),
    ({"image": "x"}, "image"),
]


@pytest.mark.parametrize(("change", "message"), BAD_BODIES)
def test_bad_bodies_are_400_and_leave_nothing(api, user, change, message):
    balance, files = credits_balance(user=user), stored_files()
    body = {**storyboard_body(), **change}
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code in (400, 503), response.json()
    assert message in response.json()["detail"], response.json()
    assert_nothing_written(user, balance, files)


def test_storyboard_fields_on_other_kinds_are_refused(api, user):
    response = api.post(
        "/api/v1/generations/",
        {"kind": "text_to_video", "prompt": "x", "quality": "draft"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("quality: ")


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"scene_image_0": upload(b"plain text", "a.png")}, "scene_image_0: "),
        ({"scene_image_5": None}, "no scene 5"),
        ({"narration_audio": upload(b"not audio at all" * 10, "v.wav", "audio/wav")}, "narr"),
    ],
)
def test_bad_uploads_are_400_and_leave_nothing(api, user, files, message):
    balance, before = credits_balance(user=user), stored_files()
    if "scene_image_5" in files:
        files = {"scene_image_0": png_upload(), "scene_image_5": png_upload()}
    elif "scene_image_0" not in files:
        files = {**files, "scene_image_0": png_upload()}
    body = storyboard_body([text_scene(image=True), text_scene()])
    response = api.post("/api/v1/generations/", multipart(body, **files), format="multipart")
    assert response.status_code == 400, response.json()
    assert message in response.json()["detail"]
    assert_nothing_written(user, balance, before)


def test_too_long_narration_is_refused(api, user, monkeypatch):
    monkeypatch.setattr(storyboards, "NARRATION_MAX_SECONDS", 1.0)
    balance, before = credits_balance(user=user), stored_files()
    response = api.post(
        "/api/v1/generations/",
        multipart(storyboard_body(), narration_audio=wav_upload(2.0)),
        format="multipart",
    )
    assert response.status_code == 400
    assert "narration_audio: the narration lasts 2.0 s" in response.json()["detail"]
    assert_nothing_written(user, balance, before)


def test_narration_upload_is_stored(api):
    response = api.post(
        "/api/v1/generations/",
        multipart(storyboard_body(), narration_audio=wav_upload(1.0)),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    generation = Generation.objects.get()
    assert generation.narration_audio.name.endswith(".wav")
    assert Path(generation.narration_audio.path).is_file()


def test_text_narration_without_espeak_is_a_clear_400(api, user, monkeypatch):
    monkeypatch.setattr("workers.storyboard.audio.tts_available", lambda: False)
    balance, before = credits_balance(user=user), stored_files()
    response = api.post(
        "/api/v1/generations/",
        storyboard_body(narration_text="Once upon a time."),
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "tts_unavailable"
    assert "espeak-ng" in body["detail"] and "narration_audio" in body["detail"]
    assert_nothing_written(user, balance, before)


def test_short_credits_are_402_and_leave_nothing(api, user):
    from apps.billing.services import credits_spend

    credits_spend(user=user, amount=settings.FREE_CREDITS - 2, reference="test:drain")
    before = stored_files()
    body = storyboard_body([text_scene(image=True), text_scene()])
    response = api.post(
        "/api/v1/generations/", multipart(body, scene_image_0=png_upload()), format="multipart"
    )
    assert response.status_code == 402
    assert Generation.objects.count() == 0 and StoryboardScene.objects.count() == 0
    assert credits_balance(user=user) == 2
    assert stored_files() == before


def test_blocked_scene_prompt_is_refused(api, user, settings):
    settings.CONTENT_BLOCKLIST = ["forbidden thing"]
    balance, before = credits_balance(user=user), stored_files()
    body = storyboard_body([text_scene(), text_scene("a forbidden thing appears")])
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "prompt_blocked"
    assert_nothing_written(user, balance, before)


def test_story_is_split_locally_without_a_gemini_key(api, settings):
    settings.GEMINI_API_KEY = ""
    story = (
        "Mira finds a glowing map in the attic.\n\n"
        "She follows it through the rain to the lighthouse.\n\n"
        "At the top, the sea lights up with stars."
    )
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "storyboard",
            "engine": "procedural",
            "quality": "draft",
            "story": story,
            "params": SMALL,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["story_source"] == "local"
    assert len(body["scenes"]) == 3
    assert "glowing map" in body["scenes"][0]["prompt"]


def test_story_is_split_by_gemini_when_configured(api, settings, gemini_fake):
    """A 429 first, then the answer: the real google-genai client retries."""
    settings.GEMINI_API_KEY = "test-key"
    settings.GEMINI_RETRY_ATTEMPTS = 2
    gemini_fake.fail_next(429)
    settings.GEMINI_BASE_URL = gemini_fake.base_url
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "storyboard",
            "engine": "procedural",
            "story": "Mira and the map.",
            "params": SMALL,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["story_source"] == "gemini"
    assert [s["prompt"][:28] for s in body["scenes"]] == [
        "a girl in a yellow raincoat ",
    ] * 3
    assert len(gemini_fake.generate_calls) == 2


def test_quote_is_the_charged_price(api, user):
    scenes = [text_scene(), text_scene(image=True), text_scene()]
    quote = api.get(
        "/api/v1/generations/quote/",
        {"kind": "storyboard", "scenes": json.dumps(scenes), "engine": "procedural"},
    )
    assert quote.status_code == 200, quote.json()
    assert quote.json()["scenes"] == [1, 1, 1] and quote.json()["assembly"] == ASSEMBLY_PRICE
    response = api.post(
        "/api/v1/generations/",
        multipart(storyboard_body(scenes), scene_image_1=png_upload()),
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["cost_credits"] == quote.json()["credits"] == 4
    assert credits_balance(user=user) == settings.FREE_CREDITS - 4


def test_quote_by_scene_count(api):
    quote = api.get(
        "/api/v1/generations/quote/",
        {"kind": "storyboard", "scene_count": 4, "duration": 2, "engine": "procedural"},
    )
    assert quote.status_code == 200, quote.json()
    assert quote.json()["credits"] == 4 + ASSEMBLY_PRICE
    bad = api.get("/api/v1/generations/quote/", {"kind": "storyboard"})
    assert bad.status_code == 400 and "scene_count" in bad.json()["detail"]


def test_diffusion_scenes_are_priced_each_as_their_own_generation(settings):
    from apps.billing.pricing import price_generation

    settings.ZEROSCOPE_MODEL = "some/model"
    plan = planning.storyboard_plan(
        scenes=[
            {"prompt": "a", "duration": 3.0, "params": {"num_frames": 24}},
            {"prompt": "b", "duration": 1.0, "engine": "procedural"},
        ],
        engine="auto",
    )
    first = plan.scenes[0]
    assert first.engine == "zeroscope"
    assert first.cost == price_generation(
        kind="text_to_video", engine="zeroscope", params=first.params
    )
    assert plan.total == first.cost + 1 + ASSEMBLY_PRICE


def test_retry_is_refused_unless_the_storyboard_failed(api):
    response = api.post("/api/v1/generations/", storyboard_body(), format="json")
    gid = response.json()["id"]
    retry = api.post(f"/api/v1/generations/{gid}/scenes/0/retry/")
    assert retry.status_code == 409
    assert api.post(f"/api/v1/generations/{gid}/scenes/9/retry/").status_code == 404


def test_others_cannot_see_or_retry(api, api_for, other_user):
    gid = api.post("/api/v1/generations/", storyboard_body(), format="json").json()["id"]
    other = api_for(other_user)
    assert other.get(f"/api/v1/generations/{gid}/").status_code == 404
    assert other.post(f"/api/v1/generations/{gid}/scenes/0/retry/").status_code == 404
    assert other.get(f"/media/generations/{gid}/scenes/0/video").status_code == 404


def test_same_idempotency_key_returns_the_first_storyboard_charged_once(api, user):
    body = storyboard_body()
    first = api.post("/api/v1/generations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    again = api.post("/api/v1/generations/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert LedgerEntry.objects.filter(kind="spend").count() == 1
    other = api.post(
        "/api/v1/generations/",
        storyboard_body(quality="high"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k1",
    )
    assert other.status_code == 409


def test_chained_first_scene_starts_from_the_persona_reference_image(api, user):
    from django.core.files.base import ContentFile

    from apps.personas.models import Persona

    persona = Persona(user=user, name="Mira", description="a girl in a yellow raincoat")
    persona.reference_image.save("ref.png", ContentFile(png_bytes()), save=False)
    persona.save()
    body = storyboard_body([text_scene(""), text_scene("")], chain=True, persona=str(persona.pk))
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 201, response.json()
    first, second = scenes_of(Generation.objects.get())
    assert first.kind == second.kind == "image_to_video"
    assert first.image.name.endswith(".png") and not second.image
    assert "yellow raincoat" in first.params["final_prompt"]
