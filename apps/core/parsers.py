"""The API's request parsers, and the one JSON reader behind them and behind JSON form fields.

Python's `json` recurses once per nesting level, so a body of a few kilobytes of `[[[[...`
raises `RecursionError` (a 500) and a slightly shallower one reaches code that recurses again.
Every JSON the API reads, a body or a JSON string inside a multipart form or a query string
(`params`, `scenes`), goes through `json_loads`, which refuses (a `ValueError`, a 400 in the
API):

- nesting deeper than `JSON_MAX_DEPTH` (default 32; the deepest body the API documents is 4),
- `NaN`, `Infinity` and numbers that overflow a float (`1e309`), which are not JSON numbers,
- integers of more than 4300 digits (Python's own limit on int parsing),
- a string or key holding a NUL character or a lone UTF-16 surrogate (`"\\u0000"`,
  `"\\ud800"`), which PostgreSQL cannot store and no caller means.

A JSON body larger than `DATA_UPLOAD_MAX_MEMORY_SIZE` is a 413 before it is parsed; a form over
`DATA_UPLOAD_MAX_NUMBER_FIELDS` fields or `DATA_UPLOAD_MAX_NUMBER_FILES` files is Django's own
`SuspiciousOperation`, which apps.core.exceptions turns into the API's 400 body.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import APIException, ParseError, ValidationError

DEFAULT_MAX_DEPTH = 32
_FORBIDDEN_CHARS = re.compile("[\x00\ud800-\udfff]")
# Bidirectional embedding, override and isolate controls (U+202A-U+202E, U+2066-U+2069): in a
# name others read, U+202E makes "invoice_gnp.exe" display as "invoice_exe.png".
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


class JSONRefused(ValueError):
    """Valid JSON syntax that the API refuses (too deep, a non-finite number, a NUL)."""


class RequestTooLarge(APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def max_depth() -> int:
    return getattr(settings, "JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(f"the number {text[:40]} is out of range.")
    return value


def _constant(name: str):
    raise JSONRefused(f"{name} is not a JSON number.")


# Where a NUL or a surrogate can hide in JSON text: a `\u0000` or `\udXXX` escape, or (the
# json module decodes bytes with "surrogatepass") a surrogate encoded in the bytes themselves.
# A raw NUL is a syntax error, and text that came off the wire was decoded from UTF-8, which
# holds no surrogate. Only text with one of these has its strings walked.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SUSPECT_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])|\xed[\xa0-\xbf]")


def _suspect(text: str | bytes | bytearray) -> bool:
    if isinstance(text, str):
        return "\\u" in text and bool(_SUSPECT_ESCAPE.search(text))
    return (b"\\u" in text or b"\xed" in text) and bool(_SUSPECT_BYTES.search(text))


_CONTAINERS = (dict, list)


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _FORBIDDEN_CHARS.search(item):
                raise JSONRefused("a string holds a NUL character or a lone surrogate.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _check_depth(value: Any, limit: int) -> None:
    """Walk the containers only, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise JSONRefused(f"the JSON is nested more than {limit} levels deep.")
        children = item.values() if isinstance(item, dict) else item
        kinds = set(map(type, children))  # at C speed: most lists hold no container
        if dict in kinds or list in kinds:
            stack.extend([(c, depth + 1) for c in children if c.__class__ in _CONTAINERS])


def json_loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON the way the API accepts it; raises ValueError (JSONRefused or a syntax error)."""
    limit = max_depth()
    try:
        value = json.loads(text, parse_float=_finite_float, parse_constant=_constant)
    except RecursionError:
        raise JSONRefused(f"the JSON is nested more than {limit} levels deep.") from None
    if value.__class__ in _CONTAINERS:
        _check_depth(value, limit)
    if _suspect(text):
        _check_strings(value)
    return value


def no_bidi_controls(value: str) -> None:
    """Validator for text other people see (a persona's name, a published title)."""
    if _BIDI_CONTROLS.search(value or ""):
        raise ValidationError(
            "Must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069).",
            code="bidi_control",
        )


def _content_length(request) -> int | None:
    meta = getattr(request, "META", {})
    try:
        return int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return None


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser with a size limit, a depth limit and finite numbers (json_loads)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if limit is not None:
            declared = _content_length(request) if request is not None else None
            if declared and declared > limit:
                raise RequestTooLarge(_too_large(limit))
            raw = stream.read(limit + 1)
            if len(raw) > limit:
                raise RequestTooLarge(_too_large(limit))
        else:
            raw = stream.read()
        try:
            return json_loads(raw.decode(encoding))
        except JSONRefused as exc:
            raise ParseError(f"JSON refused: {exc}", code="invalid_json") from None
        except ValueError as exc:  # a syntax error, UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}", code="parse_error") from None


def _too_large(limit: int) -> str:
    return f"The request body is larger than {limit // (1024 * 1024)} MB."


class MultiPartParser(parsers.MultiPartParser):
    """DRF's MultiPartParser that refuses a body whose parts it could not read.

    Django skips a part without a Content-Disposition header naming its field, so a body made
    only of such parts would read as an empty form: an empty PATCH that answers 200, a create
    that complains about missing fields instead of the body. A body that is longer than the
    bare closing delimiter but yields no field and no file is a 400 `invalid_multipart`.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        if result.data or result.files:
            return result
        request = (parser_context or {}).get("request")
        declared = _content_length(request) if request is not None else None
        boundary = _boundary(media_type or "")
        if declared and declared > len(boundary) + 8:  # more than "--<boundary>--\r\n"
            raise ParseError(
                "The multipart body has no part this API can read: each part needs a "
                'Content-Disposition: form-data; name="..." header.',
                code="invalid_multipart",
            )
        return result


def _boundary(media_type: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', media_type)
    return match.group(1).encode() if match else b""
