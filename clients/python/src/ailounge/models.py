"""What the API returns, as small dataclasses (the raw JSON stays in `.data`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

FINISHED = frozenset({"succeeded", "failed", "canceled"})


@dataclass
class Generation:
    """One generation, as `GET /api/v1/generations/{id}/` answers it."""

    id: str
    kind: str | None = None
    engine: str | None = None
    status: str | None = None
    stage: str | None = None
    progress: float | None = None
    queue_position: int | None = None
    eta_seconds: float | None = None
    prompt: str | None = None
    params: dict[str, Any] | None = None
    persona: str | None = None
    cost_credits: int | None = None
    seed: int | None = None
    error: str | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    num_frames: int | None = None
    duration_seconds: float | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    scenes: list[dict[str, Any]] | None = None
    subtitles_url: str | None = None
    story_source: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Generation:
        known = {f.name for f in fields(cls)} - {"data"}
        return cls(**{k: v for k, v in body.items() if k in known}, data=dict(body))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def raise_for_status(self) -> Generation:
        """Raise `GenerationFailed` unless the job succeeded (or is still going)."""
        from .errors import GenerationFailed

        if self.status in ("failed", "canceled"):
            raise GenerationFailed(self)
        return self

    def __getitem__(self, key: str) -> Any:
        return self.data[key]


@dataclass
class Event:
    """A live event of one job: the websocket's `progress`/`finished` messages (or the same
    figures read by polling when the socket is unavailable)."""

    type: str
    id: str
    status: str | None = None
    stage: str | None = None
    progress: float | None = None
    step: int | None = None
    total_steps: int | None = None
    queue_position: int | None = None
    eta_seconds: float | None = None
    video_url: str | None = None
    thumbnail_url: str | None = None
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> Event:
        known = {f.name for f in fields(cls)} - {"data"}
        values = {k: v for k, v in body.items() if k in known}
        values.setdefault("type", "progress")
        values.setdefault("id", "")
        return cls(**values, data=dict(body))

    @classmethod
    def from_generation(cls, generation: Generation) -> Event:
        body = dict(generation.data)
        body["type"] = "finished" if generation.finished else "progress"
        return cls.from_dict(body)

    @property
    def finished(self) -> bool:
        return self.type == "finished" or self.status in FINISHED
