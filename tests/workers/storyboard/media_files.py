"""Small media files for storyboard tests, written on the fly, and ways to read them back."""

from __future__ import annotations

import math
import os
import wave
from pathlib import Path

import av
import numpy as np

from workers.media.encode import encode_frames

RED, GREEN, BLUE, WHITE = (220, 30, 30), (30, 200, 60), (40, 60, 230), (255, 255, 255)


def scene_frames(
    n: int,
    *,
    width: int = 160,
    height: int = 90,
    colour=RED,
    bar: bool = True,
    square: bool = False,
) -> list[np.ndarray]:
    """``n`` frames of a solid colour; with ``bar``, a white bar that moves right each frame;
    with ``square``, a still white square off the centre (so a zoom shows)."""
    frames = []
    for i in range(n):
        frame = np.empty((height, width, 3), np.uint8)
        frame[...] = colour
        if square:
            frame[height // 8 : height // 2, width // 8 : width // 3] = WHITE
        if bar:
            x = (4 * i) % (width - 8)
            frame[height // 4 : 3 * height // 4, x : x + 8] = WHITE
        frames.append(frame)
    return frames


def write_clip(
    path: str | os.PathLike[str],
    *,
    seconds: float = 1.0,
    fps: int = 24,
    width: int = 160,
    height: int = 90,
    colour=RED,
    bar: bool = True,
    square: bool = False,
) -> list[np.ndarray]:
    """Encode a clip (H.264, like the engines' clips) and return the frames that went in."""
    frames = scene_frames(
        round(seconds * fps), width=width, height=height, colour=colour, bar=bar, square=square
    )
    encode_frames(frames, path=path, width=width, height=height, fps=fps)
    return frames


def write_tone(
    path: str | os.PathLike[str], *, seconds: float, rate: int = 22_050, channels: int = 1
) -> Path:
    """A 440 Hz sine WAV (16-bit) of exactly ``seconds``."""
    n = round(seconds * rate)
    t = np.arange(n) / rate
    samples = (0.5 * 32767 * np.sin(2 * math.pi * 440 * t)).astype("<i2")
    data = np.repeat(samples[:, None], channels, axis=1)
    with wave.open(os.fspath(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return Path(path)


def decode_video(path: str | os.PathLike[str]) -> list[np.ndarray]:
    with av.open(os.fspath(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def decode_audio(path: str | os.PathLike[str]) -> tuple[np.ndarray, int]:
    """All samples of the first audio stream (samples x channels, float) and the rate."""
    chunks, rate = [], 0
    with av.open(os.fspath(path)) as container:
        for frame in container.decode(audio=0):
            rate = frame.sample_rate
            array = frame.to_ndarray()
            if frame.format.is_planar:
                array = array.T
            else:
                array = array.reshape(-1, len(frame.layout.channels))
            chunks.append(array.astype(np.float64))
    return np.concatenate(chunks), rate


def audio_seconds(path: str | os.PathLike[str]) -> float:
    """The length of the first audio stream as played: the mp4 edit list trims the AAC
    encoder's priming samples, so the stream's duration is the reliable figure."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


def colour_distance(frame: np.ndarray, colour) -> float:
    """Mean absolute difference between ``frame`` and a solid ``colour``."""
    return float(np.abs(frame.astype(np.int16) - np.array(colour, np.int16)).mean())


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference between two frames."""
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())
