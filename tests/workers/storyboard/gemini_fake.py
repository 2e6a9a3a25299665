"""A local Gemini stand-in that answers story splits, for the real google-genai client.

The HTTP server is the project's shared fake (tests/fakes/gemini_server.py): it listens on
127.0.0.1 on a free port and answers ``POST /v1beta/models/{model}:generateContent`` like
Google's API (``{"candidates": [{"content": {"parts": [{"text": "<json>"}], "role": "model"},
"finishReason": "STOP"}]}``), records every request, and can be told to fail the next calls
(``fail_next(429)``). Here it is started with a storyboard reply; the ``gemini_fake`` fixture
(conftest.py) stops it when the test ends.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.fakes.gemini_server import FakeGemini, GeminiServer

STORY_REPLY: dict[str, Any] = {
    "scenes": [
        {
            "text": "Mira finds a glowing map in her grandmother's attic.",
            "visual_prompt": "a girl in a yellow raincoat opens a dusty chest in a dim attic, "
            "a map glows cyan, warm lamp light, slow push in",
            "first_frame": "Mira kneels before a closed wooden chest.",
            "last_frame": "The open map lights Mira's face.",
        },
        {
            "text": "She follows it through the rainy city to the old lighthouse.",
            "visual_prompt": "a girl in a yellow raincoat runs through neon-lit rainy streets "
            "towards a lighthouse, tracking shot",
            "first_frame": "Mira steps out of the front door into the rain.",
            "last_frame": "The lighthouse rises ahead of her.",
        },
        {
            "text": "At the top, the lamp turns and the sea lights up with stars.",
            "visual_prompt": "a girl in a yellow raincoat at the top of a lighthouse, the lamp "
            "sweeps across a sea full of glowing stars, wide shot, night",
            "first_frame": "Mira reaches the lamp room.",
            "last_frame": "The sea glitters with stars to the horizon.",
        },
    ]
}


@contextmanager
def running_gemini(reply: dict[str, Any] | str = STORY_REPLY) -> Iterator[FakeGemini]:
    """A started stand-in whose model "writes" ``reply``; stopped on exit."""
    server = GeminiServer().start()
    server.fake.reply = copy.deepcopy(reply)
    try:
        yield server.fake
    finally:
        server.stop()
