"""Real files for the hardening tests, made in memory: 16-bit PNGs written chunk by chunk (Pillow
writes only 16-bit greyscale), polyglots, truncated images and audio."""

from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib

import numpy as np
from PIL import Image

from tests.images import png_bytes

# PNG colour types: greyscale, RGB, greyscale + alpha, RGBA.
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def _chunk(tag: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(tag + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", crc)


def png16(pixels: np.ndarray, color_type: int) -> bytes:
    """A 16-bit PNG of `pixels` (uint16, height x width x channels of `color_type`)."""
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], CHANNELS[color_type])
    height, width = pixels.shape[:2]
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def grey_ramp16(width: int = 256, height: int = 64) -> np.ndarray:
    """A horizontal ramp over the whole 16-bit range: 0 at the left, 65535 at the right."""
    ramp = np.linspace(0, 65535, width).round().astype(np.uint16)
    return np.tile(ramp, (height, 1))


def jpeg_bytes(width: int = 320, height: int = 192) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 80, 40)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\x00\x10" * int(seconds * rate))
    return out.getvalue()


def zip_png_polyglot() -> bytes:
    """A valid PNG with a ZIP archive appended: PNG readers and ZIP readers both accept it."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return png_bytes() + archive.getvalue()


def html_with_png_header() -> bytes:
    """The PNG signature followed by an HTML page: sniffed as PNG, decodes as nothing."""
    return b"\x89PNG\r\n\x1a\n<html><body><script>alert(document.cookie)</script></body></html>"


def truncated(data: bytes, keep: float = 0.5) -> bytes:
    return data[: int(len(data) * keep)]
