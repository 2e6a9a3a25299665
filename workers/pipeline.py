"""One generation, from request to files: engine → frames → MP4 + thumbnail.

The engine's frames are streamed straight into ffmpeg, so a clip never sits in memory whole.
Only the first frame is kept, for the thumbnail. Either both files are there at the end, or
(on any error, cancel included) neither is.

The result carries the recipe facts (workers.recipe) and ``generation_time``: the seconds spent
in the engine, i.e. in ``engine.generate`` and in producing each frame it streams, not the
time ffmpeg spends encoding them, the thumbnail, or anything before or after this call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workers.engines.base import Engine, ProgressCallback, VideoRequest
from workers.media.encode import encode_frames, write_thumbnail
from workers.recipe import describe

VIDEO_NAME = "video.mp4"
THUMBNAIL_NAME = "thumbnail.jpg"


@dataclass(frozen=True)
class RenderResult:
    video_path: Path
    thumbnail_path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    duration_seconds: float
    engine: str
    notes: list[str] = field(default_factory=list)
    generation_time: float = 0.0  # seconds of engine work
    recipe: dict = field(default_factory=dict)  # workers.recipe.describe


def render_video(
    request: VideoRequest,
    *,
    engine: Engine,
    out_dir: str | os.PathLike[str],
    progress: ProgressCallback,
) -> RenderResult:
    """Run ``engine`` on ``request`` and write ``out_dir/video.mp4`` and ``thumbnail.jpg``.

    Stages reported: the engine's own (e.g. "generating" per frame, while frames stream into
    ffmpeg), then ("encoding", 1, 1) once the video is written and ("saving", 1, 1) once the
    thumbnail is. Exceptions, ``GenerationCanceled`` included, are re-raised after the files
    this call created are removed.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    video_path = out / VIDEO_NAME
    thumbnail_path = out / THUMBNAIL_NAME
    written: list[Path] = []
    engine_seconds = 0.0
    try:
        started = time.perf_counter()
        clip = engine.generate(request, progress=progress)
        engine_seconds += time.perf_counter() - started
        first: list[np.ndarray] = []

        def keep_first(frames) -> Iterator[np.ndarray]:
            # Frames may be made lazily: the time to produce each one is engine work too.
            nonlocal engine_seconds
            iterator = iter(frames)
            while True:
                started = time.perf_counter()
                try:
                    frame = next(iterator)
                except StopIteration:
                    engine_seconds += time.perf_counter() - started
                    return
                engine_seconds += time.perf_counter() - started
                if not first:
                    first.append(np.array(frame, dtype=np.uint8, copy=True))
                yield frame

        count = encode_frames(
            keep_first(clip.frames),
            path=video_path,
            width=clip.width,
            height=clip.height,
            fps=clip.fps,
        )
        written.append(video_path)
        progress("encoding", 1, 1)

        write_thumbnail(first[0], thumbnail_path)
        written.append(thumbnail_path)
        progress("saving", 1, 1)
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise

    return RenderResult(
        video_path=video_path,
        thumbnail_path=thumbnail_path,
        width=clip.width,
        height=clip.height,
        fps=clip.fps,
        num_frames=count,
        duration_seconds=count / clip.fps,
        engine=clip.engine,
        notes=list(clip.notes),
        generation_time=engine_seconds,
        recipe={"engine": clip.engine, **describe(engine)},
    )
