"""Narration audio: probing and checking uploads, and offline text-to-speech with espeak-ng.

Uploads are judged by their content, never by their name: the file is opened with PyAV and
decoded to the end, so a renamed video, a truncated file or random bytes are refused with a
message that can be shown to the user. Accepted containers: WAV, MP3, M4A (MP4 audio), OGG.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import av

ESPEAK = "espeak-ng"
TTS_TIMEOUT_SECONDS = 120

# PyAV's container format name (first of its comma-separated aliases) → what users call it.
ACCEPTED_CONTAINERS = {"wav": "wav", "mp3": "mp3", "mov": "m4a", "ogg": "ogg"}


class InvalidAudioError(ValueError):
    """The file is not usable narration; the message says why, in words for the user."""


class TTSUnavailable(RuntimeError):
    """espeak-ng is not installed, so text cannot be spoken."""


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds, from the decoded samples
    codec: str
    channels: int
    sample_rate: int
    container: str  # "wav" | "mp3" | "m4a" | "ogg", or PyAV's name for anything else
    has_video: bool  # a real video stream (cover art does not count)


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Describe the first audio stream of ``path``, decoding it all for an exact duration.

    ``InvalidAudioError`` (a ``ValueError``) when the file cannot be read, has no audio stream,
    cannot be decoded, or holds no sound.
    """
    name = Path(path).name
    try:
        with av.open(os.fspath(path)) as container:
            if not container.streams.audio:
                raise InvalidAudioError(f"{name} has no audio stream")
            stream = container.streams.audio[0]
            ctx = stream.codec_context
            has_video = any(
                not v.disposition & av.stream.Disposition.attached_pic
                for v in container.streams.video
            )
            samples = 0
            rate = ctx.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
            channels = ctx.channels
            codec = ctx.codec.canonical_name  # "mp3", not the decoder's "mp3float"
            format_name = container.format.name.split(",")[0]
    except InvalidAudioError:
        raise
    except FileNotFoundError:
        raise InvalidAudioError(f"{name} does not exist")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InvalidAudioError(f"{name} is not a readable audio file ({exc})")
    if not samples or not rate:
        raise InvalidAudioError(f"{name} holds no sound")
    return AudioInfo(
        duration=samples / rate,
        codec=codec,
        channels=channels,
        sample_rate=rate,
        container=ACCEPTED_CONTAINERS.get(format_name, format_name),
        has_video=has_video,
    )


def validate_narration(
    path: str | os.PathLike[str], *, max_bytes: int, max_seconds: float
) -> AudioInfo:
    """Check an uploaded narration: size first, then content (format, audio only, length).

    Returns what ``probe_audio`` found; ``InvalidAudioError`` (a ``ValueError``) otherwise.
    """
    size = os.path.getsize(path)
    if size > max_bytes:
        raise InvalidAudioError(
            f"the narration is {_megabytes(size)}; the limit is {_megabytes(max_bytes)}"
        )
    if size == 0:
        raise InvalidAudioError("the narration file is empty")
    info = probe_audio(path)
    if info.container not in ACCEPTED_CONTAINERS.values():
        raise InvalidAudioError(
            f"narration must be WAV, MP3, M4A or OGG audio, not {info.container}"
        )
    if info.has_video:
        raise InvalidAudioError("the narration has a video stream; upload audio only")
    if info.duration > max_seconds:
        raise InvalidAudioError(
            f"the narration lasts {info.duration:.1f} s; the limit is {max_seconds:g} s"
        )
    return info


def tts_available() -> bool:
    """True when espeak-ng is installed, so ``synthesize_speech`` can work."""
    return shutil.which(ESPEAK) is not None


def synthesize_speech(
    text: str,
    out_wav: str | os.PathLike[str],
    *,
    voice: str = "en",
    words_per_minute: int = 160,
) -> float:
    """Speak ``text`` with espeak-ng into the WAV file ``out_wav``; return its length in seconds.

    The text goes to espeak-ng on stdin (never on its command line). ``TTSUnavailable`` without
    espeak-ng, ``ValueError`` for empty text or a bad rate, ``RuntimeError`` when espeak-ng
    fails (an unknown voice, for one). No partial file is left behind.
    """
    text = " ".join(text.split())
    if not text:
        raise ValueError("there is no text to speak")
    if not 80 <= words_per_minute <= 450:
        raise ValueError(f"words_per_minute must be 80..450, got {words_per_minute}")
    exe = shutil.which(ESPEAK)
    if exe is None:
        raise TTSUnavailable("espeak-ng is not installed; upload the narration as audio instead")

    out = Path(out_wav)
    tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.part.wav")
    command = [exe, "-v", voice, "-s", str(words_per_minute), "-w", str(tmp), "--stdin"]
    try:
        result = subprocess.run(
            command,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=TTS_TIMEOUT_SECONDS,
            check=False,
        )
        # espeak-ng exits 0 for some errors (an unknown voice) but then writes no file.
        if result.returncode != 0 or not tmp.exists() or tmp.stat().st_size <= 44:
            details = result.stderr.decode("utf-8", "replace").strip()
            raise RuntimeError(f"espeak-ng could not speak the text: {details or 'no output'}")
        duration = probe_audio(tmp).duration
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return duration


def _megabytes(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
