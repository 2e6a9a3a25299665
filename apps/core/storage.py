"""Media through Django's storage API (STORAGES["default"]): local files or an S3 bucket.

Nothing else opens a media file by path. Web and workers may run on different machines, so a
worker fetches its inputs from storage into a scratch folder of its own (under MEDIA_ROOT, one
per job, removed when the job ends), renders there and uploads what it made; a view checks
access, then answers with the bytes (local: streamed, Range-aware) or a redirect to a URL the
object store signed for a few minutes (s3).
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import Storage, default_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from .http import ranged_response

CHUNK = 1024 * 1024


def media_storage() -> Storage:
    return default_storage


def scratch_dir(*, prefix: str) -> Path:
    """A new, empty folder of this machine's own for one job's files; remove it with
    `scratch_remove` when the job ends, however it ends."""
    root = Path(settings.MEDIA_ROOT) / "scratch"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=root))


def scratch_remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def media_exists(name: str | None) -> bool:
    return bool(name) and media_storage().exists(name)


def media_fetch(name: str, dest: str | Path) -> Path:
    """Copy the stored file `name` to the local path `dest` (its folder is made); return it."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with media_storage().open(name, "rb") as src, dest.open("wb") as out:
        shutil.copyfileobj(src, out, CHUNK)
    return dest


def media_upload(path: str | Path, *, name: str) -> str:
    """Store the local file `path` as `name`, replacing what was stored there; return the stored
    name (the one to keep on the row)."""
    storage = media_storage()
    if storage.exists(name):
        storage.delete(name)
    with Path(path).open("rb") as fh:
        return storage.save(name, File(fh, name=posixpath.basename(name)))


def media_delete(name: str | None) -> None:
    if name:
        media_storage().delete(name)


def media_listdir(prefix: str) -> tuple[list[str], list[str]]:
    """(folders, files) directly under `prefix`; nothing when there is no such folder."""
    try:
        return media_storage().listdir(prefix)
    except FileNotFoundError:
        return [], []


def media_delete_prefix(prefix: str) -> int:
    """Delete every stored file under the folder `prefix`; return how many went."""
    storage = media_storage()
    folders, files = media_listdir(prefix)
    removed = 0
    for file in files:
        storage.delete(f"{prefix}/{file}")
        removed += 1
    for folder in folders:
        removed += media_delete_prefix(f"{prefix}/{folder}")
    media_prune_empty(prefix)
    return removed


def media_prune_empty(prefix: str) -> None:
    """Remove the empty folders under `prefix`, itself included. The local backend leaves them
    behind when files are deleted; an object store has no folders, so nothing to do there."""
    try:
        root = Path(media_storage().path(prefix))
    except NotImplementedError:
        return
    if not root.is_dir():
        return
    for folder, _, _ in os.walk(root, topdown=False):
        with contextlib.suppress(OSError):  # not empty
            os.rmdir(folder)


def media_response(
    request: HttpRequest,
    name: str,
    *,
    content_type: str | None = None,
    cache_control: str = "private, max-age=300",
    redirect: bool = True,
) -> HttpResponse:
    """The stored file `name` for a caller whose access was checked: streamed with HTTP Range
    support (sent with `cache_control`), or, from a backend that signs URLs (S3), a 302 to a
    short-lived signed URL that answers with `content_type` (the object store honours Range).
    `redirect=False` streams from every backend: for small files a page reads cross-origin only
    with CORS (a <track>'s subtitles)."""
    storage = media_storage()
    content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if redirect and getattr(storage, "querystring_auth", False):
        url = storage.url(name, parameters={"ResponseContentType": content_type})
        response = HttpResponseRedirect(url)
        # The signed URL expires soon: the redirect must not outlive it in a cache.
        response["Cache-Control"] = "private, no-store"
        return response
    response = ranged_response(
        request, storage.open(name, "rb"), size=storage.size(name), content_type=content_type
    )
    response["Cache-Control"] = cache_control
    return response
