"""Frames → browser-playable MP4, streamed through ffmpeg; thumbnails.

``encode_frames`` pipes raw RGB frames into one ffmpeg process (its command line built with
ffmpeg-python) as they are produced, so a clip
is never held in memory whole. ffmpeg writes to a hidden temporary file next to the target,
which is renamed over it only once ffmpeg has finished cleanly: on an error or a cancel no
partial file is left, and an existing file at the target stays as it was.

Output: H.264 (libx264), yuv420p with BT.709 colours (converted and tagged), ``+faststart`` (the index first, so browsers start playing
before the download ends). The ffmpeg used is the one on PATH, else the static binary that the
``imageio-ffmpeg`` wheel ships.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path

import ffmpeg
import numpy as np
from PIL import Image

DEFAULT_PRESET = "veryfast"
DEFAULT_CRF = 20
THUMBNAIL_MAX_WIDTH = 640
THUMBNAIL_QUALITY = 85


class EncodeError(RuntimeError):
    """ffmpeg failed; the message carries what it printed on stderr."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: ``FFMPEG_BINARY``, else PATH, else imageio-ffmpeg's."""
    configured = os.environ.get("FFMPEG_BINARY")
    if configured:
        return configured
    found = shutil.which("ffmpeg")
    if found:
        return found
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise ValueError(f"width and height must be positive and even, got {width}x{height}")


def encode_frames(
    frames: Iterable[np.ndarray],
    *,
    path: str | os.PathLike[str],
    width: int,
    height: int,
    fps: float,
    on_frame: Callable[[int], None] | None = None,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> int:
    """Encode ``frames`` (H×W×3 uint8 RGB arrays) into an MP4 at ``path``; return the count.

    ``on_frame(n)`` is called after the n-th frame was handed to ffmpeg; it may raise (a cancel)
    to stop. ``ValueError`` for a bad size, a frame of the wrong shape, or no frames at all;
    ``EncodeError`` when ffmpeg fails. Whatever happens, the frame iterator is closed and no
    partial output is left behind.
    """
    _check_size(width, height)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    target = Path(path)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.part{target.suffix}")
    rate = Fraction(fps).limit_denominator(1001)
    command = _encode_command(width, height, rate, tmp, preset=preset, crf=crf)
    iterator = iter(frames)
    with tempfile.TemporaryFile() as stderr:
        try:
            return _stream(iterator, command, tmp, target, width, height, on_frame, stderr)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


def _stream(iterator, command, tmp, target, width, height, on_frame, stderr) -> int:
    count = 0
    process: subprocess.Popen | None = None
    try:
        for frame in iterator:
            array = np.asarray(frame)
            if array.shape != (height, width, 3):
                raise ValueError(
                    f"frame {count + 1} is {array.shape}, expected ({height}, {width}, 3)"
                )
            if process is None:
                process = subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr
                )
            try:
                process.stdin.write(np.ascontiguousarray(array, dtype=np.uint8).tobytes())
            except (BrokenPipeError, ConnectionResetError):
                process.wait()
                raise EncodeError(_failure(process, stderr))
            count += 1
            if on_frame is not None:
                on_frame(count)
        if process is None:
            raise ValueError("no frames to encode")
        with contextlib.suppress(BrokenPipeError):
            process.stdin.close()
        if process.wait() != 0:
            raise EncodeError(_failure(process, stderr))
        os.replace(tmp, target)
        return count
    except BaseException:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if process is not None and process.stdin and not process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()


def _encode_command(
    width: int, height: int, rate: Fraction, out: Path, *, preset: str, crf: int
) -> list[str]:
    """The ffmpeg command line, built with ffmpeg-python: raw RGB on stdin → H.264 MP4."""
    stream = ffmpeg.input(
        "pipe:0",
        format="rawvideo",
        pix_fmt="rgb24",
        s=f"{width}x{height}",
        framerate=f"{rate.numerator}/{rate.denominator}",
    )
    stream = ffmpeg.output(
        stream,
        str(out),
        an=None,
        vcodec="libx264",
        preset=preset,
        crf=crf,
        # BT.709, limited range, converted and declared: what browsers assume for video.
        vf="scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
        pix_fmt="yuv420p",
        colorspace="bt709",
        color_primaries="bt709",
        color_trc="bt709",
        color_range="tv",
        movflags="+faststart",
        format="mp4",
    )
    stream = stream.global_args("-hide_banner", "-nostdin", "-nostats", "-loglevel", "error")
    return stream.overwrite_output().compile(cmd=ffmpeg_exe())


def _failure(process: subprocess.Popen, stderr) -> str:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace").strip()
    return f"ffmpeg exited with {process.returncode}: {text[-2000:] or 'no output'}"


def write_thumbnail(
    frame: np.ndarray,
    path: str | os.PathLike[str],
    *,
    max_width: int = THUMBNAIL_MAX_WIDTH,
    quality: int = THUMBNAIL_QUALITY,
) -> Path:
    """Save ``frame`` as a JPEG no wider than ``max_width`` (aspect kept, never upscaled)."""
    target = Path(path)
    image = Image.fromarray(np.asarray(frame, dtype=np.uint8)).convert("RGB")
    if image.width > max_width:
        height = max(1, round(image.height * max_width / image.width))
        image = image.resize((max_width, height), Image.Resampling.LANCZOS)
    tmp = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.part{target.suffix}")
    try:
        image.save(tmp, format="JPEG", quality=quality, optimize=True)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target
