"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

The schema says an upload is a binary file; the server also reads it (an image must decode, the
narration must be audio), which a schema cannot say. Every generated upload is replaced by a
small real file of its kind, so a schema-valid request is a valid one."""

from __future__ import annotations

import io
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


@schemathesis.hook
def map_body(context, body):
    if not isinstance(body, dict):
        return body
    files = {}
    for key in body:
        if IMAGE_FIELDS.fullmatch(key) and isinstance(body[key], bytes | str | type(None)):
            files[key] = PNG
        elif key == "narration_audio":
            files[key] = WAV
    return {**body, **files} if files else body
