"""The contract every video engine follows.

An engine takes a plain ``VideoRequest`` and a progress callback and returns a ``Clip`` whose
frames may be produced lazily. The callback may raise ``GenerationCanceled`` to stop the work;
engines let that exception through untouched. Failures meant for the user are ``EngineError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

STAGES = ("queued", "loading model", "generating", "decoding", "encoding", "saving")


class GenerationCanceled(Exception):
    """Raised by a progress callback to stop an engine; engines let it through."""


class EngineError(Exception):
    """A failure with a user-facing message."""


class EngineUnavailable(EngineError):
    """The model cannot be loaded or the engine is not configured."""


class ProgressCallback(Protocol):
    def __call__(self, stage: str, step: int, total: int) -> None:
        """Report ``step`` of ``total`` in ``stage``; may raise ``GenerationCanceled``."""
        ...


@dataclass(frozen=True)
class VideoRequest:
    kind: str  # "image_to_video" | "text_to_video"
    prompt: str = ""
    negative_prompt: str = ""
    image_path: str | None = None  # already-validated RGB image file (PNG/JPEG/WebP)
    width: int = 1024
    height: int = 576
    fps: int = 7
    num_frames: int = 25
    num_inference_steps: int = 25
    guidance_scale: float = 9.0
    motion_strength: float = 0.5  # 0..1
    noise_aug_strength: float = 0.02
    seed: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Clip:
    frames: Iterable[np.ndarray]  # each HxWx3 uint8 RGB; may be a lazy generator
    width: int
    height: int
    fps: float
    num_frames: int
    engine: str  # name of the engine that produced it
    notes: list[str] = field(default_factory=list)


class Engine(Protocol):
    """``name`` is what ``Clip.engine`` reports. For the recipe (workers.recipe), an engine with
    weights has ``model`` (a hub id or a local folder) and ``device``; one without has
    ``version``, its own version string, raised whenever its frames for a request change."""

    name: str

    def generate(self, request: VideoRequest, *, progress: ProgressCallback) -> Clip: ...
