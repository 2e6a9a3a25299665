"""Websocket consumers for live progress (contract: ARCHITECTURE.md, "Live progress").

`ws/generations/<id>/` follows one generation (its owner, or staff); `ws/me/` follows all of the
signed-in user's generations. Both refuse before joining any group: anonymous users are closed
with 4401, anyone else's generation (or an unknown id) with 4404. The handshake is accepted
first so that a client sees those codes (a refused handshake only reads as 1006 in a browser).

On connect the consumer joins its group, then sends the snapshot built from the database (the
order means no event falls between the two; an event may arrive twice, which is harmless since
every event carries the full state). Then it forwards the group's `generation.event` messages.
When the channel layer's Redis connection comes back after a drop (`layer.reconnected`, see
channel_layer.py), it sends a fresh snapshot, since events published meanwhile are lost.

Client messages:
- `{"type": "cancel"}` (on `ws/me/`: `{"type": "cancel", "id": "<uuid>"}`) cancels through
  `services.generation_cancel` and answers the resulting event (a queued job: `finished` with
  status canceled; a running one: `progress` while it stops at its next step, then `finished`);
- `{"type": "snapshot"}` (on `ws/me/` optionally `"ids": [...]`) answers a fresh snapshot;
- anything else answers `{"type": "error", "detail": "...", "code": "..."}`.
"""

from __future__ import annotations

import uuid

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from apps.core.exceptions import ApplicationError, NotFound
from apps.core.parsers import json_loads

from .events import group_for_generation, group_for_user, snapshot_event, snapshot_events
from .selectors import generation_get, generation_live_list
from .services import generation_cancel

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
MAX_SNAPSHOT_IDS = 100


def _generation_uuid(value) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        raise NotFound("No such generation.")


@database_sync_to_async
def _load(*, user, generation_id):
    return generation_get(user=user, generation_id=_generation_uuid(generation_id))


@database_sync_to_async
def _snapshot(*, user, generation_id) -> dict:
    generation = generation_get(user=user, generation_id=_generation_uuid(generation_id))
    return snapshot_event(generation)


@database_sync_to_async
def _user_snapshot(*, user, ids=None) -> dict:
    if ids is None:
        generations = generation_live_list(user=user)
    else:
        generations = []
        for generation_id in ids[:MAX_SNAPSHOT_IDS]:
            try:
                generations.append(
                    generation_get(user=user, generation_id=_generation_uuid(generation_id))
                )
            except NotFound:
                continue
    return {"type": "snapshot", "generations": snapshot_events(generations)}


@database_sync_to_async
def _cancel(*, user, generation_id) -> dict:
    generation = generation_get(user=user, generation_id=_generation_uuid(generation_id))
    return snapshot_event(generation_cancel(generation=generation))


class _LiveConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            group = await self.authorize(user)
        except NotFound:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = group
        await self.channel_layer.group_add(group, self.channel_name)
        await self.send_snapshot()

    async def disconnect(self, code):
        group = getattr(self, "group", None)
        if group:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if not getattr(self, "group", None):
            return  # refused, closing
        try:
            content = json_loads(text_data if text_data is not None else bytes_data)
        except (TypeError, ValueError):
            await self.send_error("Messages are JSON objects.", "invalid_json")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.send_error('Messages are objects with a "type".', "invalid")
            return
        try:
            await self.receive_json(content)
        except ApplicationError as exc:
            await self.send_error(exc.message, exc.code)

    async def receive_json(self, content, **kwargs):
        kind = content["type"]
        if kind == "cancel":
            reply = await _cancel(user=self.scope["user"], generation_id=self.target_id(content))
            await self.send_json(reply)
        elif kind == "snapshot":
            await self.send_snapshot(content)
        else:
            await self.send_error(f"Unknown message type {kind!r}.", "unknown_type")

    async def generation_event(self, message):
        await self.send_json(message["event"])

    async def layer_reconnected(self, message):
        """The channel layer lost Redis for a moment (events may be missing): resend the state."""
        if getattr(self, "group", None):  # not for a socket being refused
            await self.send_snapshot()

    async def send_error(self, detail: str, code: str) -> None:
        await self.send_json({"type": "error", "detail": detail, "code": code})

    async def authorize(self, user) -> str:
        raise NotImplementedError

    async def send_snapshot(self, content=None) -> None:
        raise NotImplementedError

    def target_id(self, content: dict):
        raise NotImplementedError


class GenerationConsumer(_LiveConsumer):
    """`ws/generations/<id>/`: one generation, for its owner or staff."""

    async def authorize(self, user) -> str:
        self.generation_id = self.scope["url_route"]["kwargs"]["generation_id"]
        generation = await _load(user=user, generation_id=self.generation_id)
        return group_for_generation(generation.pk)

    async def send_snapshot(self, content=None) -> None:
        event = await _snapshot(user=self.scope["user"], generation_id=self.generation_id)
        await self.send_json(event)

    def target_id(self, content: dict):
        return self.generation_id


class UserConsumer(_LiveConsumer):
    """`ws/me/`: every generation of the signed-in user."""

    async def authorize(self, user) -> str:
        return group_for_user(user.pk)

    async def send_snapshot(self, content=None) -> None:
        ids = (content or {}).get("ids")
        if ids is not None and not isinstance(ids, list):
            await self.send_error('"ids" is a list of generation ids.', "invalid")
            return
        await self.send_json(await _user_snapshot(user=self.scope["user"], ids=ids))

    def target_id(self, content: dict):
        if "id" not in content:
            raise NotFound('Say which generation to cancel: {"type": "cancel", "id": "..."}.')
        return content["id"]
