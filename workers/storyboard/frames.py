"""First and last frames of a clip, as PNG stills: how chained scenes hand over.

With ``chain``, scene i + 1 is generated from the exact last frame of scene i (an image-to-video
engine starts from it), so a character and a place carry through. Frames are decoded with PyAV
and converted to RGB with the colour matrix the stream declares (BT.709 for our encodes).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import av
import numpy as np
from PIL import Image

# The last frame is searched from a keyframe at least this far before the end.
_TAIL_SECONDS = 2.0


def extract_first_frame(
    video_path: str | os.PathLike[str], out_image_path: str | os.PathLike[str]
) -> Path:
    """Write the first decoded frame of ``video_path`` as a PNG; return its path."""
    with _open(video_path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            return _save_png(frame.to_ndarray(format="rgb24"), out_image_path)
    raise ValueError(f"{Path(video_path).name} has no decodable frame")


def extract_last_frame(
    video_path: str | os.PathLike[str], out_image_path: str | os.PathLike[str]
) -> Path:
    """Write the last decoded frame of ``video_path`` as a PNG; return its path.

    Decoding starts at a keyframe near the end (found by seeking), not at the start, so a long
    clip costs about as much as a short one; it falls back to decoding everything when the
    file cannot seek.
    """
    last = _last_frame(video_path, seek=True)
    if last is None:
        last = _last_frame(video_path, seek=False)
    if last is None:
        raise ValueError(f"{Path(video_path).name} has no decodable frame")
    return _save_png(last, out_image_path)


def _open(video_path: str | os.PathLike[str]):
    try:
        container = av.open(os.fspath(video_path))
    except (av.FFmpegError, OSError) as exc:
        raise ValueError(f"{Path(video_path).name} is not a readable video ({exc})")
    if not container.streams.video:
        container.close()
        raise ValueError(f"{Path(video_path).name} has no video stream")
    return container


def _last_frame(video_path: str | os.PathLike[str], *, seek: bool) -> np.ndarray | None:
    with _open(video_path) as container:
        stream = container.streams.video[0]
        if seek:
            end = _end_time(container, stream)
            if end is None or stream.time_base is None:
                return None
            target = max(0.0, end - _TAIL_SECONDS)
            try:
                container.seek(int(target / stream.time_base), stream=stream, backward=True)
            except av.FFmpegError:
                return None
        last = None
        for frame in container.decode(stream):
            last = frame
        return None if last is None else last.to_ndarray(format="rgb24")


def _end_time(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        start = stream.start_time or 0
        return float((start + stream.duration) * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _save_png(rgb: np.ndarray, out_image_path: str | os.PathLike[str]) -> Path:
    out = Path(out_image_path)
    tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.part.png")
    try:
        Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(tmp, "PNG")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out
