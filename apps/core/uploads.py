"""Image uploads: checked by content, bounded, normalised and re-encoded before anything is stored.

JPEG, PNG and WebP only, decided by what Pillow decodes, never by the file name or the
client's content type. The decoded image is EXIF-transposed, stripped of metadata and
re-encoded as PNG, so what is stored is exactly the pixels we accepted. 16-bit greyscale is
scaled to 8 bits (65535 → 255), never clipped. A file that is an image and also something a
browser or an unzipper would open (HTML or SVG markup in its first bytes, a PDF, a ZIP archive
appended) is refused: re-encoding would strip it, but nobody uploads one by accident.
"""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from dataclasses import dataclass

from django.conf import settings
from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from .exceptions import ApplicationError

ALLOWED_FORMATS = {"JPEG", "PNG", "WEBP"}
MIN_SIDE = 64


class InvalidUpload(ApplicationError):
    status_code = 400
    default_code = "invalid_image"


@dataclass(frozen=True)
class IngestedImage:
    content: ContentFile
    width: int
    height: int
    source_format: str


# Greyscale of more than 8 bits per pixel, as Pillow opens a 16-bit PNG (Pillow itself scales
# 16-bit RGB and RGBA PNGs down to 8 bits; greyscale it keeps at full depth).
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def _to_8_bits(image: Image.Image) -> Image.Image:
    """16-bit greyscale scaled to 0..255 (convert("L"/"RGB") would clip at 255, not scale)."""
    if image.mode in WIDE_GREY_MODES:
        return image.convert("I").point(lambda v: v / 257 + 0.5).convert("L")
    return image


# What browsers' content sniffers find in a file's first bytes (the WHATWG MIME sniffing
# standard looks at the first 1445 bytes for HTML): an image that also parses as one of these
# is a polyglot, made to be served as something else.
SNIFF_BYTES = 1445
MARKUP = re.compile(rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|\?xml)[\s>/]", re.I)


def _polyglot(data: bytes) -> str:
    """What else the file is ("a ZIP archive", "an HTML document", "a PDF"), or ""."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        return "a ZIP archive"
    if b"%PDF-" in data[:1024]:
        return "a PDF document"
    if MARKUP.search(data, 0, SNIFF_BYTES):
        return "an HTML document"
    return ""


def image_ingest(upload, *, field: str = "image") -> IngestedImage:
    """Validate an uploaded file and return it re-encoded as PNG. Raises InvalidUpload."""
    size = getattr(upload, "size", None)
    if not size:
        raise InvalidUpload(f"{field}: the uploaded file is empty.")
    if size > settings.UPLOAD_MAX_BYTES:
        limit_mb = settings.UPLOAD_MAX_BYTES // (1024 * 1024)
        raise InvalidUpload(f"{field}: the file is larger than {limit_mb} MB.")
    upload.seek(0)
    data = upload.read()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                fmt = probe.format
                if fmt not in ALLOWED_FORMATS:
                    raise InvalidUpload(
                        f"{field}: {fmt or 'this'} files are not accepted; upload a JPEG, PNG or WebP image."
                    )
                width, height = probe.size
                if width * height > settings.UPLOAD_MAX_PIXELS:
                    raise InvalidUpload(
                        f"{field}: the image is {width}×{height} pixels, more than the "
                        f"{settings.UPLOAD_MAX_PIXELS:,} allowed."
                    )
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                image = _to_8_bits(image)
                if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
                    image = image.convert("RGB")
                image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                if "A" in image.getbands():
                    background = Image.new("RGB", image.size, (0, 0, 0))
                    background.paste(image, mask=image.getchannel("A"))
                    image = background
    except InvalidUpload:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidUpload(
            f"{field}: the image has too many pixels to decode safely "
            f"(at most {settings.UPLOAD_MAX_PIXELS:,} are allowed)."
        )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise InvalidUpload(
            f"{field}: the file is not a readable image (it may be truncated or corrupt); "
            "upload a JPEG, PNG or WebP image."
        )
    polyglot = _polyglot(data)
    if polyglot:
        raise InvalidUpload(
            f"{field}: the file is an image and also {polyglot}; upload a plain JPEG, PNG or "
            "WebP image."
        )
    if min(image.size) < MIN_SIDE:
        raise InvalidUpload(f"{field}: the image must be at least {MIN_SIDE}×{MIN_SIDE} pixels.")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=3)
    return IngestedImage(
        content=ContentFile(out.getvalue(), name="image.png"),
        width=image.width,
        height=image.height,
        source_format=fmt,
    )
