"""HTTP plumbing every app shares: file responses that honour Range requests (browsers seek and
Safari plays with them), and the answer to a request Django refused before any view ran.
"""

from __future__ import annotations

import re
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from .exceptions import request_refusal

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _RangeFile:
    """A file object limited to [start, start+length) so FileResponse streams only the range."""

    def __init__(self, fh: IO[bytes], start: int, length: int):
        self._fh = fh  # closed by FileResponse, through close()
        self._fh.seek(start)
        self._left = length

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        chunk = self._fh.read(size)
        self._left -= len(chunk)
        return chunk

    def close(self) -> None:
        self._fh.close()


def ranged_response(
    request: HttpRequest,
    fh: IO[bytes],
    *,
    size: int,
    content_type: str | None = None,
    filename: str | None = None,
) -> HttpResponse:
    """Stream the open, seekable file `fh` of `size` bytes: all of it, or the one byte range the
    request's Range header asks for (206, or 416 when it lies outside the file)."""
    content_type = content_type or "application/octet-stream"
    header = request.headers.get("Range", "")
    match = RANGE_RE.match(header.strip()) if header else None
    if match and (match.group(1) or match.group(2)):
        first, last = match.groups()
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:  # suffix range: the last N bytes
            start = max(size - int(last), 0)
            end = size - 1
        if start >= size or start > end:
            fh.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        length = end - start + 1
        response = FileResponse(
            _RangeFile(fh, start, length), status=206, content_type=content_type
        )
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(fh, content_type=content_type)
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    if filename:
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response


def _wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    content_type = request.META.get("CONTENT_TYPE", "")
    accept = request.META.get("HTTP_ACCEPT", "")
    return content_type.startswith("application/json") or (
        "application/json" in accept and "text/html" not in accept
    )


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    """`handler400`: a request Django refused (too large, too many fields, malformed). Under
    /api/ (or asked for JSON) the API's `{"detail","code"}` body, elsewhere a friendly page;
    413 for a body over the size limit, else 400."""
    status, detail, code = request_refusal(exception)
    if _wants_json(request):
        return JsonResponse({"detail": detail, "code": code}, status=status)
    context = {
        "page_title": "Request refused",
        "page_description": detail,
        "status": status,
        "detail": detail,
    }
    return render(request, "400.html", context, status=status)
