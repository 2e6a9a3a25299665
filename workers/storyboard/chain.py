"""Chained scenes: make a clip start exactly on the frame the previous scene ended on.

An image-to-video engine conditions on its start image, but its first frame is only close to it
(SVD re-imagines it; the procedural engine starts inside a camera move). ``AnchoredEngine``
wraps any engine: the clip's first frame becomes the start image itself, and the next few
frames blend from it into the engine's own frames, so the cut between two chained scenes is
seamless up to the encoder's error. Frames stay lazy: one frame at a time, as the engine makes
them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image, ImageOps

from workers.engines.base import Clip, Engine, ProgressCallback, VideoRequest

DEFAULT_BLEND_FRAMES = 6


def load_anchor(image_path: str | os.PathLike[str], width: int, height: int) -> np.ndarray:
    """The start image as an RGB frame of the clip's size (centre-cropped, never stretched)."""
    with Image.open(image_path) as im:
        rgb = im.convert("RGB")
        if rgb.size != (width, height):
            rgb = ImageOps.fit(rgb, (width, height), method=Image.Resampling.LANCZOS)
        return np.asarray(rgb, dtype=np.uint8)


def anchor_frames(
    frames: Iterable[np.ndarray], anchor: np.ndarray, *, blend_frames: int
) -> Iterator[np.ndarray]:
    """Frame 0 is ``anchor``; frames 1..blend_frames-1 move linearly from it to the engine's."""
    for i, frame in enumerate(frames):
        if i == 0:
            yield anchor
        elif i < blend_frames:
            w = i / blend_frames
            mixed = anchor.astype(np.float32) * (1.0 - w) + np.asarray(frame, np.float32) * w
            yield np.clip(mixed + 0.5, 0, 255).astype(np.uint8)
        else:
            yield frame


class AnchoredEngine:
    """An engine whose clips start on ``image_path`` exactly (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        image_path: str | os.PathLike[str],
        *,
        blend_frames: int = DEFAULT_BLEND_FRAMES,
    ):
        self.engine = engine
        self.name = engine.name
        self.image_path = image_path
        self.blend_frames = max(1, blend_frames)

    def generate(self, request: VideoRequest, *, progress: ProgressCallback) -> Clip:
        clip = self.engine.generate(request, progress=progress)
        anchor = load_anchor(self.image_path, clip.width, clip.height)
        blend = min(self.blend_frames, max(1, clip.num_frames // 3))
        return Clip(
            frames=anchor_frames(clip.frames, anchor, blend_frames=blend),
            width=clip.width,
            height=clip.height,
            fps=clip.fps,
            num_frames=clip.num_frames,
            engine=clip.engine,
            notes=[*clip.notes, "chained: starts on the previous scene's last frame"],
        )
