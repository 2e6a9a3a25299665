"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The schema says an upload is a binary file; the server also reads it (an image must decode, the
narration must be audio), which a schema cannot say. Every generated upload is replaced by a
small real file of its kind, so a schema-valid request is a valid one."""

from __future__ import annotations

import io
import os
import re
import wave

import schemathesis
from PIL import Image

IMAGE_FIELDS = re.compile(r"image|reference_image|scene_image_\d{1,2}")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (40, 200, 180)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav() -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"\x00\x00" * 8000)
    return buffer.getvalue()


PNG, WAV = _png(), _wav()


# An id in a body must name one of the caller's objects, which a schema cannot say either: the
# test passes the fuzzing user's own persona, and every generated persona id becomes it.
PERSONA_ID = os.environ.get("FUZZ_PERSONA_ID", "")


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    real = {}
    for key, value in body.items():
        if IMAGE_FIELDS.fullmatch(key) and value is not None:
            real[key] = PNG
        elif key == "narration_audio" and value is not None:
            real[key] = WAV
        elif key == "persona" and PERSONA_ID and isinstance(value, str):
            real[key] = PERSONA_ID
    return {**body, **real} if real else body
