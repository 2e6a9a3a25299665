"""A small local stand-in for the Gemini API, for the official google-genai client to talk to.

Answers `POST /v1beta/models/{model}:generateContent` the way Google's Generative Language API
does: `{"candidates": [{"content": {"role": "model", "parts": [{"text": ...}]}, "finishReason":
"STOP", "index": 0}], "usageMetadata": {...}, "modelVersion": ...}`, where the text is the JSON
the request's `generationConfig.responseSchema` asked for. Errors use Google's shape:
`{"error": {"code", "message", "status"}}` (429 RESOURCE_EXHAUSTED, 500 INTERNAL, ...).
Requests need an `x-goog-api-key` header (401 UNAUTHENTICATED otherwise).

Tests script it with `fail_next(status)` (answered in order, before the reply) and `reply`
(the JSON object the model "writes"); every request is recorded in `requests`.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http import FakeServer

PATH_RE = re.compile(r"^/(?P<version>v1beta|v1|v1alpha)/models/(?P<model>[^/:]+):generateContent$")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_REPLY = {
    "name": "Captain Nova",
    "description": "A wiry space courier in a scuffed orange flight jacket with a cracked visor",
    "style": "retro sci-fi, neon rim light, film grain, slow dolly",
    "palette": ["#ff6a00", "#1b1f3b", "#00e5ff"],
    "notes": "The face is partly hidden: check the age and expression.",
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    model: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeGemini:
    base_url: str = ""
    reply: dict[str, Any] | str = field(default_factory=lambda: dict(DEFAULT_REPLY))
    requests: list[RecordedRequest] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int = 429, *, times: int = 1) -> None:
        """The next `times` calls answer with a Google API error of this status."""
        self.failures.extend([status] * times)

    @property
    def generate_calls(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model]

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes):
        match = PATH_RE.match(path.split("?", 1)[0])
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        with self.lock:
            self.requests.append(
                RecordedRequest(method, path, match["model"] if match else "", headers, body)
            )
            if method != "POST" or match is None:
                return _error(404, f"Method not found: {method} {path}")
            if not headers.get("x-goog-api-key"):
                return _error(401, "Method doesn't allow unregistered callers.")
            if not body.get("contents"):
                return _error(400, "* GenerateContentRequest.contents: contents is not specified")
            if self.failures:
                status = self.failures.pop(0)
                message = (
                    "Resource has been exhausted (e.g. check quota)."
                    if status == 429
                    else "An internal error has occurred."
                )
                return _error(status, message)
            text = self.reply if isinstance(self.reply, str) else json.dumps(self.reply)
            return 200, {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": text}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 300,
                    "candidatesTokenCount": 80,
                    "totalTokenCount": 380,
                },
                "modelVersion": match["model"],
                "responseId": f"fake-{len(self.requests)}",
            }


def _error(status: int, message: str):
    return status, {
        "error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    }


class GeminiServer(FakeServer):
    """A FakeGemini on 127.0.0.1: ``start()``, ``stop()`` (the pytest fixtures do both)."""

    def __init__(self) -> None:
        super().__init__(FakeGemini(), name="fake-gemini")
