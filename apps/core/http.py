"""File responses that honour HTTP Range requests (browsers seek and Safari plays with them)."""

from __future__ import annotations

import mimetypes
import os
import re

from django.http import FileResponse, HttpRequest, HttpResponse

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


class _RangeFile:
    """A file object limited to [start, start+length) so FileResponse streams only the range."""

    def __init__(self, path: str, start: int, length: int):
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by FileResponse
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


def ranged_file_response(
    request: HttpRequest, path: str, *, content_type: str | None = None, filename: str | None = None
) -> HttpResponse:
    size = os.path.getsize(path)
    content_type = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
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
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        length = end - start + 1
        response = FileResponse(
            _RangeFile(path, start, length), status=206, content_type=content_type
        )
        response["Content-Length"] = str(length)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    else:
        response = FileResponse(open(path, "rb"), content_type=content_type)  # noqa: SIM115
        response["Content-Length"] = str(size)
    response["Accept-Ranges"] = "bytes"
    if filename:
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    return response
