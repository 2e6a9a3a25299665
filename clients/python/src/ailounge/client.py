"""The synchronous client: REST over httpx, live progress over the job's websocket."""

from __future__ import annotations

import contextlib
import json
import mimetypes
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import httpx

from . import __version__
from .errors import AILoungeError, ConnectionFailed, error_from_response
from .live import follow
from .models import Event, Generation

DEFAULT_URL = "http://127.0.0.1:8000"

ImageInput = str | os.PathLike | bytes | IO[bytes]
ProgressCallback = Callable[[Event], Any]

# Transport errors after which the request may not have reached the server: only retried when
# repeating it is harmless (a GET, or a create carrying its Idempotency-Key).
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSPORT = (httpx.TransportError,)


@dataclass
class Page:
    """One page of `GET generations/`: newest first."""

    count: int
    results: list[Generation]
    next: str | None = None
    previous: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def __iter__(self) -> Iterator[Generation]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)


@dataclass
class Quote:
    """A price from `GET generations/quote/`, computed by the same function as the charge."""

    credits: int
    engine: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    def __int__(self) -> int:
        return self.credits


class Client:
    """An AI Lounge API client.

    `url` defaults to `$AILOUNGE_URL` (else http://127.0.0.1:8000), `token` to
    `$AILOUNGE_TOKEN`. `retries` is how often a failed request is tried again (connect errors,
    502/503/504 for reads; a create only where its Idempotency-Key makes it safe).
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
    ):
        self.url = (url or os.environ.get("AILOUNGE_URL") or DEFAULT_URL).rstrip("/")
        self.token = token or os.environ.get("AILOUNGE_TOKEN") or None
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        headers = {"User-Agent": f"ailounge-python/{__version__}", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        self._http = httpx.Client(base_url=f"{self.url}/api/v1/", headers=headers, timeout=timeout)

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        retry_codes: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> Any:
        """Send one API request; decode JSON; raise the API's error as an exception.

        Retried: connect errors always (nothing was sent); other transport errors and
        502/503/504 when `idempotent` (default: GET); a 503 whose code is in `retry_codes`.
        """
        if idempotent is None:
            idempotent = method == "GET"
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
            except _TRANSPORT as exc:
                retryable = isinstance(exc, _UNSENT) or idempotent
                if retryable and attempt < self.retries:
                    self._sleep(attempt)
                    attempt += 1
                    continue
                raise ConnectionFailed(
                    None, "connection_error", f"Could not reach {self.url}: {exc}"
                ) from exc
            if response.status_code < 400:
                if response.status_code == 204 or not response.content:
                    return None
                return response.json()
            body = _body(response)
            code = body.get("code") if isinstance(body, dict) else None
            retryable = (idempotent and response.status_code in (502, 503, 504)) or (
                response.status_code == 503 and code in retry_codes
            )
            if retryable and attempt < self.retries:
                self._sleep(attempt, response.headers.get("Retry-After"))
                attempt += 1
                continue
            raise error_from_response(response.status_code, body, response.headers)

    def _sleep(self, attempt: int, retry_after: str | None = None) -> None:
        delay = min(self.backoff * 2**attempt, 8.0)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max(delay, float(retry_after)), 30.0)
        time.sleep(delay)

    def _create(self, body: dict[str, Any], files: dict[str, Any], idempotency_key: str | None):
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        body = {k: v for k, v in body.items() if v is not None}
        if files:
            data = {k: _form_value(v) for k, v in body.items()}
            kwargs: dict[str, Any] = {"data": data, "files": files}
        else:
            kwargs = {"json": body}
        created = self._request(
            "POST",
            "generations/",
            headers=headers,
            idempotent=True,  # the same key answers the same job, charged once
            retry_codes=("queue_unavailable",),
            **kwargs,
        )
        return Generation.from_dict(created)

    # -- the API ----------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """`{"id", "username", "email", "credits"}` of the token's user."""
        return self._request("GET", "me/")

    def generate(
        self,
        kind: str | None = None,
        prompt: str | None = None,
        image: ImageInput | None = None,
        *,
        engine: str = "auto",
        params: dict[str, Any] | None = None,
        persona: str | None = None,
        negative_prompt: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **extra: Any,
    ) -> Generation:
        """Create a generation (`kind`: text_to_video, or image_to_video when `image` is given)
        and, with `wait`, follow it until it ends; returns the Generation as it ended (check
        `.status`, or call `.raise_for_status()`). `image`: a path, bytes or a binary file.
        `extra` goes into the create body as is (e.g. `webhook`)."""
        kind = kind or ("image_to_video" if image is not None else "text_to_video")
        body = {
            "kind": kind,
            "engine": engine,
            "prompt": prompt,
            "params": params,
            "persona": persona,
            "negative_prompt": negative_prompt,
            **extra,
        }
        files = {"image": _upload(image, "image")} if image is not None else {}
        generation = self._create(body, files, idempotency_key)
        if wait:
            return self.wait(generation.id, on_progress=on_progress, timeout=timeout)
        return generation

    def storyboard(
        self,
        scenes: list[dict[str, Any]] | None = None,
        *,
        story: str | None = None,
        prompt: str | None = None,
        transition: str | None = None,
        transition_duration: float | None = None,
        quality: str | None = None,
        chain: bool | None = None,
        narration_text: str | None = None,
        narration_audio: ImageInput | None = None,
        engine: str = "auto",
        params: dict[str, Any] | None = None,
        persona: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        **extra: Any,
    ) -> Generation:
        """Create a storyboard from `scenes` (dicts with `prompt` and/or `image`, `duration`,
        `transition`, `engine`, `params`; a scene's `image` may be a path, bytes or a file) or
        from a `story`; with `wait`, follow it until the assembly ends."""
        files: dict[str, Any] = {}
        sent_scenes = None
        if scenes is not None:
            sent_scenes = []
            for index, scene in enumerate(scenes):
                scene = dict(scene)
                image = scene.get("image")
                if image is not None and image is not True and image is not False:
                    files[f"scene_image_{index}"] = _upload(image, f"scene{index}")
                    scene["image"] = True
                sent_scenes.append(scene)
        if narration_audio is not None:
            files["narration_audio"] = _upload(narration_audio, "narration")
        body = {
            "kind": "storyboard",
            "engine": engine,
            "prompt": prompt,
            "scenes": sent_scenes,
            "story": story,
            "transition": transition,
            "transition_duration": transition_duration,
            "quality": quality,
            "chain": chain,
            "narration_text": narration_text,
            "params": params,
            "persona": persona,
            **extra,
        }
        generation = self._create(body, files, idempotency_key)
        if wait:
            return self.wait(generation.id, on_progress=on_progress, timeout=timeout)
        return generation

    def rerun(
        self,
        generation_id: str,
        *,
        seed: int | None = None,
        params: dict[str, Any] | None = None,
        prompt: str | None = None,
        engine: str | None = None,
        idempotency_key: str | None = None,
        wait: bool = True,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
    ) -> Generation:
        """A new job from a finished one's recipe and inputs (its seed and, for image to video,
        its stored image), charged at its own price; `seed`, `params` (merged over the old
        ones), `prompt` and `engine` change it. The same seed on the same engine gives the same
        frames. A storyboard is retried in place instead (`storyboard_use_retry`)."""
        overrides = {"seed": seed, "params": params, "prompt": prompt, "engine": engine}
        created = self._request(
            "POST",
            f"generations/{generation_id}/rerun/",
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
            json={k: v for k, v in overrides.items() if v is not None},
            idempotent=True,  # the same key answers the same job, charged once
            retry_codes=("queue_unavailable",),
        )
        generation = Generation.from_dict(created)
        if wait:
            return self.wait(generation.id, on_progress=on_progress, timeout=timeout)
        return generation

    def get(self, generation_id: str) -> Generation:
        return Generation.from_dict(self._request("GET", f"generations/{generation_id}/"))

    def list(self, page: int = 1, **filters: Any) -> Page:
        """One page of your generations, newest first (`filters`, e.g. `batch=`, go into the
        query string)."""
        query = {"page": page, **{k: v for k, v in filters.items() if v is not None}}
        body = self._request("GET", "generations/", params=query)
        if isinstance(body, list):  # an unpaginated server
            body = {"count": len(body), "results": body}
        return Page(
            count=body.get("count", len(body["results"])),
            results=[Generation.from_dict(item) for item in body["results"]],
            next=body.get("next"),
            previous=body.get("previous"),
            data=body,
        )

    def cancel(self, generation_id: str) -> Generation:
        """Cancel a queued or running job; its credits are refunded when it stops (a running
        job stops at its next step: the answer may still say `running`)."""
        return Generation.from_dict(self._request("POST", f"generations/{generation_id}/cancel/"))

    def quote(
        self,
        kind: str = "text_to_video",
        engine: str = "auto",
        *,
        persona: str | None = None,
        scenes: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> Quote:
        """The price of a job, without creating it. `params` are the job's params; for a
        storyboard give `scenes` (or `scene_count=` and `duration=`), plus `chain=`."""
        query: dict[str, Any] = {"kind": kind, "engine": engine}
        if persona:
            query["persona"] = persona
        if kind == "storyboard":
            for name in ("scene_count", "duration", "chain"):
                if name in params:
                    value = params.pop(name)
                    query[name] = json.dumps(value) if isinstance(value, bool) else value
            if scenes is not None:
                query["scenes"] = json.dumps(
                    [
                        {**s, "image": True} if s.get("image") not in (None, False) else s
                        for s in scenes
                    ]
                )
        if params:
            query["params"] = json.dumps(params)
        body = self._request("GET", "generations/quote/", params=query)
        return Quote(credits=body["credits"], engine=body.get("engine"), data=body)

    def wait(
        self,
        generation_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = 1.0,
    ) -> Generation:
        """Follow a job until it ends and return it. Events come from the websocket
        `ws/generations/<id>/`; when the socket cannot be used, from polling the REST API.
        `timeout` (seconds): raise `TimeoutError` when it has not ended by then."""
        deadline = None if timeout is None else time.monotonic() + timeout
        emit = on_progress or (lambda event: None)
        follow(self, generation_id, emit=emit, deadline=deadline, poll_interval=poll_interval)
        # The row is the truth: read the full Generation once the socket says it ended.
        while True:
            generation = self.get(generation_id)
            if generation.finished:
                return generation
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"generation {generation_id} did not finish in time")
            time.sleep(poll_interval)

    def download(
        self,
        generation: str | Generation,
        path: str | os.PathLike | None = None,
        *,
        what: str = "video",
    ) -> Path:
        """Stream a finished job's `video` (or `thumbnail`, `subtitles`) to `path` (default:
        `<id>.mp4` in the current folder); returns the path. Follows the server's redirect to
        signed storage URLs; the token is only ever sent to the API's own host."""
        if not isinstance(generation, Generation) or not getattr(generation, f"{what}_url"):
            generation = self.get(generation if isinstance(generation, str) else generation.id)
        url = getattr(generation, f"{what}_url")
        if not url:
            raise AILoungeError(
                None,
                "no_media",
                f"Generation {generation.id} has no {what} (status {generation.status}).",
            )
        suffix = {"video": ".mp4", "thumbnail": ".jpg", "subtitles": ".vtt"}.get(what, "")
        target = Path(path) if path is not None else Path(f"{generation.id}{suffix}")
        partial = target.with_name(target.name + ".part")
        url = urljoin(self.url + "/", url)
        try:
            with open(partial, "wb") as out:
                self._stream(url, out)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def _media_headers(self, url: str) -> dict[str, str]:
        """The token goes to the API's own origin only, never to a bucket it redirects to."""
        headers = {"User-Agent": self._http.headers["User-Agent"]}
        if self.token and _origin(url) == _origin(self.url):
            headers["Authorization"] = f"Token {self.token}"
        return headers

    def _stream(self, url: str, out: IO[bytes], *, redirects: int = 5) -> None:
        for attempt in range(self.retries + 1):
            current = url
            try:
                for _ in range(redirects + 1):
                    with httpx.stream(
                        "GET", current, headers=self._media_headers(current), timeout=self.timeout
                    ) as response:
                        if response.is_redirect:
                            current = urljoin(current, response.headers["Location"])
                            continue
                        if response.status_code >= 400:
                            response.read()
                            raise error_from_response(
                                response.status_code, _body(response), response.headers
                            )
                        out.seek(0)
                        out.truncate()
                        for chunk in response.iter_bytes(1 << 16):
                            out.write(chunk)
                        return
                raise AILoungeError(None, "too_many_redirects", f"Too many redirects for {url}")
            except _TRANSPORT as exc:
                if attempt >= self.retries:
                    raise ConnectionFailed(
                        None, "connection_error", f"Download failed: {exc}"
                    ) from exc
                self._sleep(attempt)


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, parts.hostname, port


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _form_value(value: Any) -> str:
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value)
    return str(value)


def _upload(source: ImageInput, stem: str) -> tuple[str, bytes, str]:
    """(filename, bytes, content type) for a multipart file field; read whole, so that a
    retried request sends the same bytes."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        data, name = path.read_bytes(), path.name
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), ""
    else:
        data = source.read()
        name = (
            Path(getattr(source, "name", "") or "").name
            if isinstance(getattr(source, "name", None), str)
            else ""
        )
    content_type = _sniff(data) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    if not name:
        name = stem + (mimetypes.guess_extension(content_type) or "")
    return name, data, content_type


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    return None
