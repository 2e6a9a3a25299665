"""Persona fixtures: the local Gemini stand-in and Gemini settings pointing at it."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.fakes.gemini_server import FakeGemini, GeminiServer


@pytest.fixture(autouse=True)
def _fresh_throttles():
    """Draft throttling counts in the cache: every test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def gemini_server():
    """A local HTTP server answering like Gemini's API; stopped when the test ends."""
    server = GeminiServer().start()
    try:
        yield server.fake
    finally:
        server.stop()


@pytest.fixture
def gemini_on(settings, gemini_server) -> FakeGemini:
    """Gemini configured, with the official google-genai client pointed at the stand-in."""
    settings.GEMINI_API_KEY = "test-gemini-key"
    settings.GEMINI_BASE_URL = gemini_server.base_url
    settings.GEMINI_MODEL = "gemini-test-flash"
    settings.GEMINI_RETRY_ATTEMPTS = 3
    settings.GEMINI_RETRY_INITIAL_DELAY = 0.01
    settings.GEMINI_RETRY_MAX_DELAY = 0.05
    return gemini_server


@pytest.fixture
def gemini_off(settings):
    settings.GEMINI_API_KEY = ""
    settings.GEMINI_BASE_URL = ""
