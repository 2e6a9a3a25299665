"""Storyboard fixtures: small clips and a local Gemini stand-in."""

from __future__ import annotations

import pytest

from tests.workers.storyboard.gemini_fake import running_gemini
from workers.storyboard.presets import Preset

SMALL = Preset("small", 160, 90, 24, 28)  # a draft-like preset at test size


@pytest.fixture
def small_preset() -> Preset:
    return SMALL


@pytest.fixture
def gemini_fake():
    """The local Gemini stand-in answering a 3-scene story split; stopped after the test."""
    with running_gemini() as fake:
        yield fake
