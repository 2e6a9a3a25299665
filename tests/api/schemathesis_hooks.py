"""Schemathesis hooks for tests/api/test_schemathesis.py (loaded through SCHEMATHESIS_HOOKS).

A schema says what a request looks like; two things the server also checks no schema can say:
- an upload is read: an image must decode (and a persona's picture be 64 px a side or more),
  the narration must be audio; every upload in a schema-valid body becomes a small real file
  of its kind (a PNG or a WAV);
- an id names one of the caller's objects: a persona id in a schema-valid body or query becomes
  the fuzzing user's own persona (which has a reference image).

These are `map_case` hooks, not `map_body`: schemathesis applies case hooks in every phase
(examples, coverage, fuzzing, stateful), while `map_body` hooks are not applied to the coverage
phase's cases. Only positive cases, and in them only values of the field's type (a drawn file,
a UUID), are mapped: a violation keeps what the generator made, so the server's refusal is the
one of that violation."""

from __future__ import annotations

import io
import os
import re
import uuid
import wave

import schemathesis
from PIL import Image
from schemathesis.transport.serialization import Binary

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


# (Wrapped as schemathesis wraps the bytes it draws for a binary field: a case whose body a hook
# changed is checked against the schema again, and plain bytes would read as a violation.)
PNG, WAV = _png(), _wav()
PERSONA_ID = os.environ.get("FUZZ_PERSONA_ID", "")


def _positive(case) -> bool:
    meta = case.meta
    return meta is None or not meta.generation.mode.is_negative


def _is_file(value) -> bool:
    """What schemathesis draws for a binary field (a violation of it is of another type)."""
    return isinstance(value, bytes | bytearray | Binary)


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return isinstance(value, str)


def _real_body(body: dict, multipart: bool) -> dict:
    real = {}
    for key, value in body.items():
        if multipart and IMAGE_FIELDS.fullmatch(key) and _is_file(value):
            real[key] = Binary(PNG)
        elif multipart and key == "narration_audio" and _is_file(value):
            real[key] = Binary(WAV)
        elif key == "persona" and PERSONA_ID and _is_uuid(value):
            real[key] = PERSONA_ID
    return {**body, **real} if real else body


@schemathesis.hook
def map_case(context, case):
    if not _positive(case):
        return case
    if isinstance(case.body, dict):
        multipart = (case.media_type or "").startswith("multipart/")
        case.body = _real_body(case.body, multipart)
    query = case.query
    if isinstance(query, dict) and PERSONA_ID and _is_uuid(query.get("persona")):
        case.query = {**query, "persona": PERSONA_ID}
    # The mapped values are the case's values (a file for a file, an id for an id), not an edit to
    # judge again: schemathesis cannot validate a body with a file in it and would call any
    # edited one a violation. Taken as the starting state, as schemathesis takes its auth.
    case._record_starting_state()
    return case
