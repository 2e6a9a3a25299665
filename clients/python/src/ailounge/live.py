"""Following one job: its websocket first, REST polling when the socket cannot be used."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import connect

from .errors import AuthenticationError, NotFound
from .models import Event

if TYPE_CHECKING:
    from .client import Client

# Without a message for this long, the REST API is asked (events are best effort).
IDLE_CHECK = 10.0


class WaitTimeout(TimeoutError):
    """The job did not end within the caller's `timeout`."""


# Sockets that fail before opening this often in a row: poll instead.
MAX_FAILURES = 3


def websocket_url(base: str, generation_id: str) -> str:
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + f"/ws/generations/{generation_id}/"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def origin(base: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}"


def follow(
    client: Client,
    generation_id: str,
    *,
    emit: Callable[[Event], Any],
    deadline: float | None,
    poll_interval: float,
) -> None:
    """Call `emit` with each event of the job until a `finished` one has been emitted."""
    failures = 0
    while failures < MAX_FAILURES:
        opened = False
        try:
            with connect(
                websocket_url(client.url, generation_id),
                additional_headers=_headers(client),
                origin=origin(client.url),
                open_timeout=client.timeout,
            ) as ws:
                opened = True
                failures = 0
                if _drain(client, ws, generation_id, emit=emit, deadline=deadline):
                    return
        except WaitTimeout:
            raise
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else None
            if code == 4401:
                raise AuthenticationError(401, "not_authenticated", "The token was refused.")
            if code == 4404:
                raise NotFound(404, "not_found", f"No generation {generation_id}.")
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError):
            pass
        if not opened:
            failures += 1
        _check_deadline(generation_id, deadline)
        # Between sockets, the row tells whether the job ended meanwhile.
        generation = client.get(generation_id)
        if generation.finished:
            emit(Event.from_generation(generation))
            return
        time.sleep(min(0.5 * 2**failures, 5.0))
    _poll(client, generation_id, emit=emit, deadline=deadline, interval=poll_interval)


def _headers(client: Client) -> dict[str, str]:
    return {"Authorization": f"Token {client.token}"} if client.token else {}


def _drain(client: Client, ws: Any, generation_id: str, *, emit, deadline) -> bool:
    """Emit the socket's events; True once the job finished."""
    while True:
        _check_deadline(generation_id, deadline)
        try:
            message = ws.recv(timeout=IDLE_CHECK)
        except TimeoutError:
            generation = client.get(generation_id)
            if generation.finished:
                emit(Event.from_generation(generation))
                return True
            continue
        try:
            body = json.loads(message)
        except ValueError:
            continue
        if not isinstance(body, dict) or body.get("type") not in ("progress", "finished"):
            continue
        event = Event.from_dict(body)
        emit(event)
        if event.finished:
            return True


def _poll(client: Client, generation_id: str, *, emit, deadline, interval: float) -> None:
    last = None
    while True:
        generation = client.get(generation_id)
        event = Event.from_generation(generation)
        figures = (event.status, event.stage, event.progress, event.queue_position)
        if figures != last or event.finished:
            emit(event)
            last = figures
        if event.finished:
            return
        _check_deadline(generation_id, deadline)
        time.sleep(interval)


def _check_deadline(generation_id: str, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise WaitTimeout(f"generation {generation_id} did not finish in time")
