"""Uploaded images of more than 8 bits per channel are scaled to 8 bits, never clipped."""

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from apps.core.uploads import InvalidUpload, image_ingest
from apps.generation.models import Generation
from tests.hardening.files import grey_ramp16, jpeg_bytes, png16, zip_png_polyglot
from tests.images import png_bytes, upload


def ingested_pixels(data: bytes) -> np.ndarray:
    result = image_ingest(upload(data))
    with Image.open(io.BytesIO(result.content.read())) as image:
        assert image.mode == "RGB"
        return np.asarray(image)


def expected_8bit(ramp16: np.ndarray) -> np.ndarray:
    return (ramp16.astype(np.float64) / 257).round()


@pytest.mark.parametrize(
    ("color_type", "name"),
    [(0, "grey"), (4, "grey+alpha"), (2, "RGB"), (6, "RGBA")],
)
def test_a_16_bit_png_keeps_its_tones(color_type, name):
    ramp = grey_ramp16()
    opaque = np.full_like(ramp, 65535)
    channels = {0: [ramp], 4: [ramp, opaque], 2: [ramp] * 3, 6: [ramp, ramp, ramp, opaque]}
    pixels = np.stack(channels[color_type], axis=-1)
    out = ingested_pixels(png16(pixels, color_type))
    want = expected_8bit(ramp)
    for c in range(3):
        # Pillow keeps the high byte of 16-bit colour (v >> 8); the greyscale path rounds v/257.
        assert np.abs(out[..., c].astype(int) - want).max() <= 1, name
    assert out[:, 0].max() == 0 and out[:, -1].min() == 255
    assert 120 <= out[:, 128, 0].mean() <= 135  # the middle of the ramp is mid-grey


def test_an_ordinary_16_bit_greyscale_photo_does_not_turn_black_or_white():
    # A typical 16-bit scan: values in the lower quarter of the range (a dim photo).
    rng = np.random.default_rng(7)
    pixels = rng.integers(2000, 16000, size=(96, 128), dtype=np.uint16)
    out = ingested_pixels(png16(pixels, 0))
    assert abs(out.mean() - pixels.mean() / 257) < 1
    assert out.min() > 5 and out.max() < 70


def test_pillows_own_16_bit_greyscale_png_is_scaled():
    image = Image.fromarray(grey_ramp16())
    assert image.mode == "I;16"
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    out = ingested_pixels(buffer.getvalue())
    assert np.abs(out[..., 0].astype(int) - expected_8bit(grey_ramp16())).max() <= 1


@pytest.mark.django_db
def test_a_16_bit_upload_through_the_api_is_stored_with_its_tones(api):
    response = api.post(
        "/api/v1/generations/",
        {"kind": "image_to_video", "image": upload(png16(grey_ramp16(), 0))},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    generation = Generation.objects.get()
    with generation.input_image.open("rb") as fh, Image.open(fh) as image:
        stored = np.asarray(image.convert("L"))
    assert stored[:, -1].min() == 255 and stored[:, 0].max() == 0
    assert 120 <= stored[:, 128].mean() <= 135


# --- polyglots -------------------------------------------------------------------------------


def png_with_text(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", text)
    out = io.BytesIO()
    Image.open(io.BytesIO(png_bytes())).save(out, format="PNG", pnginfo=info)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (zip_png_polyglot(), "a ZIP archive"),
        (png_with_text("<html><script>alert(1)</script></html>"), "an HTML document"),
        (png_with_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'), "HTML"),
        (png_with_text("%PDF-1.7 1 0 obj << /Type /Catalog >>"), "a PDF document"),
    ],
    ids=["zip", "html", "svg", "pdf"],
)
def test_an_image_that_is_also_something_else_is_refused(data, what):
    with pytest.raises(InvalidUpload, match=f"also {what}" if what != "HTML" else "HTML"):
        image_ingest(upload(data))


@pytest.mark.parametrize(
    "data",
    [
        png_with_text("Shot on a rainy night; <3 and a < b"),
        jpeg_bytes() + b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64,  # a motion photo
    ],
    ids=["text-metadata", "jpeg-with-video-appended"],
)
def test_ordinary_images_with_metadata_or_appended_video_are_accepted(data):
    assert image_ingest(upload(data)).width > 0
