"""Twisted's HTTP request parses every multipart/form-data body into `request.args` before the
application sees it, and answers a body it cannot parse (a multipart body without parts, a
truncated one) with its own empty 400: no JSON, no Content-Type, the connection closed.

Daphne never reads `request.args` (it hands the raw body to Django, which parses multipart
itself and answers a bad one with the API's JSON error), so the parse is only a second pass over
every upload and a way around the API's error contract. This makes it a no-op. Imported by
config/asgi.py, which daphne loads before it serves; tests/test_twisted_compat.py checks it
against a real daphne.
"""

from __future__ import annotations

from twisted.web import http


def _no_multipart_args(content: bytes, ctype: bytes) -> dict[bytes, list[bytes]]:
    return {}


if hasattr(http, "_getMultiPartArgs"):  # the private helper Twisted's Request uses
    http._getMultiPartArgs = _no_multipart_args
