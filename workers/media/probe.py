"""What is in a video file: codec, size, frame rate, frame count, audio, and MP4 box order.

PyAV (libav* bound in-process) reads the container; the static ffmpeg from imageio-ffmpeg has
no ffprobe, and parsing ``ffmpeg -i`` text is fragile. Frames are counted from demuxed packets,
so probing never decodes a frame.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class VideoInfo:
    codec: str  # "h264"
    pix_fmt: str | None  # "yuv420p"
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float  # seconds of video: num_frames / fps
    has_audio: bool
    audio_codec: str | None
    container: str  # PyAV's first name for the format: "mov" for MP4


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe the first video stream of ``path``; ``ValueError`` when it has none."""
    with av.open(os.fspath(path)) as container:
        videos = [
            s
            for s in container.streams.video
            if not s.disposition & av.stream.Disposition.attached_pic
        ]
        if not videos:
            raise ValueError(f"{Path(path).name} has no video stream")
        stream = videos[0]
        ctx = stream.codec_context
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        audio = container.streams.audio[0] if container.streams.audio else None
        num_frames = stream.frames
        if not num_frames:
            num_frames = sum(
                1 for packet in container.demux(stream) if packet.size and packet.stream is stream
            )
        if fps:
            duration = num_frames / fps
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = 0.0
        return VideoInfo(
            codec=ctx.codec.canonical_name,
            pix_fmt=ctx.format.name if ctx.format else None,
            width=ctx.width,
            height=ctx.height,
            fps=fps,
            num_frames=num_frames,
            duration=duration,
            has_audio=audio is not None,
            audio_codec=audio.codec_context.codec.canonical_name if audio is not None else None,
            container=container.format.name.split(",")[0],
        )


def faststart(path: str | os.PathLike[str]) -> bool:
    """True when the MP4's ``moov`` box comes before ``mdat``: a browser can start playing at once.

    Walks the top-level boxes only (32-bit sizes, 64-bit "largesize" when the size is 1, and
    size 0 meaning "to the end of the file").
    """
    with open(path, "rb") as f:
        while True:
            header = f.read(8)
            if len(header) < 8:
                return False
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                large = f.read(8)
                if len(large) < 8:
                    return False
                (size,) = struct.unpack(">Q", large)
                skip = size - 16
            elif size == 0:
                return False
            else:
                skip = size - 8
            if skip < 0:
                return False
            f.seek(skip, os.SEEK_CUR)
