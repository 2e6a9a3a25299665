"""Character from image: Gemini through the real google-genai client against a local stand-in
(retries on 429 and 5xx with backoff), and the local analysis when Gemini is off or fails."""

from __future__ import annotations

import base64

import pytest

from apps.personas.image_analysis import colour_name
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db

DRAFT_FIELDS = {"name", "description", "style", "palette", "source", "notes"}
URL = "/api/v1/personas/draft/"


def draft(api, data: bytes | None = None):
    return api.post(URL, {"image": upload(data or png_bytes())}, format="multipart")


def test_gemini_draft_after_a_429_then_success(api, gemini_on):
    gemini_on.fail_next(429)
    response = draft(api)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == DRAFT_FIELDS
    assert body["source"] == "gemini"
    assert body["name"] == "Captain Nova"
    assert body["palette"] == ["#ff6a00", "#1b1f3b", "#00e5ff"]
    assert "partly hidden" in body["notes"]
    calls = gemini_on.generate_calls
    assert len(calls) == 2  # the 429, then the retry that succeeded
    request = calls[-1]
    assert request.path == "/v1beta/models/gemini-test-flash:generateContent"
    assert request.headers["x-goog-api-key"] == "test-gemini-key"
    config = request.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert set(config["responseSchema"]["properties"]) >= {"name", "description", "palette"}
    parts = request.body["contents"][0]["parts"]
    # The SDK writes proto field names (snake_case or lowerCamelCase: the API accepts both).
    image = next(p.get("inlineData") or p["inline_data"] for p in parts if set(p) - {"text"})
    assert (image.get("mimeType") or image.get("mime_type")) == "image/png"
    data = image["data"]  # base64 (the SDK sends the URL-safe alphabet, unpadded)
    assert base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))[:8] == b"\x89PNG\r\n\x1a\n"


def test_server_errors_are_retried_too(api, gemini_on):
    gemini_on.fail_next(503)
    gemini_on.fail_next(500)
    body = draft(api).json()
    assert body["source"] == "gemini"
    assert len(gemini_on.generate_calls) == 3


def test_falls_back_to_local_when_retries_run_out(api, gemini_on):
    gemini_on.fail_next(429, times=3)  # GEMINI_RETRY_ATTEMPTS is 3 in these tests
    response = draft(api, png_bytes(300, 200, color=(230, 20, 30)))
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "local"
    assert "Gemini was unavailable" in body["notes"]
    assert len(gemini_on.generate_calls) == 3


def test_client_errors_are_not_retried(api, gemini_on, settings):
    settings.GEMINI_API_KEY = "rejected"
    gemini_on.fail_next(403)
    body = draft(api).json()
    assert body["source"] == "local"
    assert len(gemini_on.generate_calls) == 1


def test_an_answer_that_is_not_the_json_asked_for_falls_back(api, gemini_on):
    gemini_on.reply = "Sure! Here is a persona: a robot."
    body = draft(api).json()
    assert body["source"] == "local"
    assert len(gemini_on.generate_calls) == 1


def test_invalid_colours_from_gemini_give_way_to_measured_ones(api, gemini_on):
    gemini_on.reply = {**gemini_on.reply, "palette": ["orange", "#12345", "#ABCDEF"]}
    body = draft(api).json()
    assert body["source"] == "gemini"
    assert body["palette"] == ["#abcdef"]


def test_without_a_key_the_local_analysis_fills_what_it_can(api, gemini_off):
    response = draft(api, png_bytes(400, 200, color=(20, 60, 230)))
    assert response.status_code == 200
    body = response.json()
    assert body["source"] == "local"
    assert body["name"] == "Blue character"
    assert "landscape" in body["description"] and "blue" in body["description"]
    assert "landscape framing" in body["style"]
    assert body["palette"] and all(c.startswith("#") and len(c) == 7 for c in body["palette"])
    assert "needs" in body["notes"] or "write who the character is" in body["notes"]


def test_an_unreadable_upload_is_a_400(api, gemini_off):
    response = api.post(URL, {"image": upload(b"not an image")}, format="multipart")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_image"


@pytest.mark.parametrize(
    ("rgb", "name"),
    [
        ((0, 0, 0), "black"),
        ((250, 250, 250), "white"),
        ((128, 128, 128), "grey"),
        ((220, 20, 20), "red"),
        ((20, 200, 40), "green"),
        ((20, 60, 230), "blue"),
        ((250, 40, 200), "magenta"),
    ],
)
def test_colour_names(rgb, name):
    assert colour_name(rgb) == name


def test_drafts_are_throttled_per_user(api, client, user, gemini_off, settings):
    settings.PERSONA_DRAFT_RATE = "2/hour"
    assert draft(api).status_code == 200
    assert draft(api).status_code == 200
    assert draft(api).status_code == 429
    client.force_login(user)
    page = client.post("/personas/draft/", {"image": upload(png_bytes())})
    assert page.status_code == 429 and "Too many drafts" in page.content.decode()
