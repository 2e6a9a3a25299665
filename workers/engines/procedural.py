"""The CPU engine: a camera move over a still, or animated text on a moving neon gradient.

No model and no GPU: it runs anywhere the web stack runs, so the platform works before any
weights are downloaded and tests can exercise the whole pipeline quickly. Frames are produced
lazily, one per ``progress("generating", i, n)`` call, and the same request always gives the
same frames.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, UnidentifiedImageError

from workers.engines.base import Clip, EngineError, ProgressCallback, VideoRequest

MIN_SIDE = 16
MAX_SIDE = 4096
MAX_FRAMES = 2000

# Deep backgrounds (blue / purple) and neon accents (cyan, magenta, green, violet, pink, blue).
_DEEP = ((8, 6, 40), (20, 4, 46), (4, 12, 38), (14, 2, 30))
_NEON = (
    (0, 240, 255),
    (255, 0, 200),
    (57, 255, 20),
    (170, 80, 255),
    (255, 50, 130),
    (0, 130, 255),
)
_FONT_NAMES = ("DejaVuSans-Bold.ttf", "DejaVuSans.ttf")


def smoothstep(t: float) -> float:
    """Ease in and out: 0 → 0, 1 → 1, zero velocity at both ends."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class CameraMove:
    """A Ken Burns move in source-image pixels: view width and centre, start and end."""

    start_width: float
    end_width: float
    start_center: tuple[float, float]
    end_center: tuple[float, float]
    zoom_in: bool
    direction: str

    def at(self, e: float) -> tuple[float, float, float]:
        """View width and centre at eased progress ``e`` (0..1).

        The width moves geometrically (a steady zoom speed) and the centre linearly; both
        keep the view inside the source, because the set of valid (log width, centre) pairs is
        convex and both ends lie in it.
        """
        width = self.start_width * (self.end_width / self.start_width) ** e
        cx = self.start_center[0] + (self.end_center[0] - self.start_center[0]) * e
        cy = self.start_center[1] + (self.end_center[1] - self.start_center[1]) * e
        return width, cx, cy


def plan_camera_move(
    *, width: int, height: int, motion_strength: float, seed: int
) -> tuple[tuple[int, int], CameraMove]:
    """The source size to pre-scale the still to, and the camera move over it.

    ``motion_strength`` sets the zoom ratio (1.02 → 1.40) and how far the camera pans (none
    at 0); ``seed`` picks zoom in or out and the pan direction.
    """
    m = min(1.0, max(0.0, float(motion_strength)))
    zoom = 1.02 + 0.38 * m  # widest view / tightest view
    margin = 0.04 + 0.14 * m  # room around the widest view, for the pan
    scale = zoom * (1.0 + margin)
    src_w, src_h = round(width * scale), round(height * scale)

    rng = random.Random(seed)
    zoom_in = rng.random() < 0.5
    angle = rng.uniform(0.0, 2.0 * math.pi)
    dx, dy = math.cos(angle), math.sin(angle)

    wide = src_w / (1.0 + margin)
    tight = wide / zoom
    aspect = height / width

    def center(view_w: float, sign: float) -> tuple[float, float]:
        # Keep 2 source pixels clear of the edge so bicubic never samples outside the image.
        reach_x = m * max(0.0, src_w - view_w - 4.0) / 2.0
        reach_y = m * max(0.0, src_h - view_w * aspect - 4.0) / 2.0
        return src_w / 2.0 + sign * dx * reach_x, src_h / 2.0 + sign * dy * reach_y

    start_w, end_w = (wide, tight) if zoom_in else (tight, wide)
    move = CameraMove(
        start_width=start_w,
        end_width=end_w,
        start_center=center(start_w, -1.0),
        end_center=center(end_w, 1.0),
        zoom_in=zoom_in,
        direction=_compass(dx, dy),
    )
    return (src_w, src_h), move


def _compass(dx: float, dy: float) -> str:
    names = ("right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right")
    return names[round(math.atan2(dy, dx) / (math.pi / 4)) % 8]


class ProceduralEngine:
    """Camera moves over stills (image_to_video) and neon text scenes (text_to_video)."""

    name = "procedural"
    # The recipe's model revision (workers.recipe): raised whenever the same request would give
    # different frames, so a recipe names the code that drew them.
    version = "1.0"

    def generate(self, request: VideoRequest, *, progress: ProgressCallback) -> Clip:
        _check_request(request)
        w, h, n = request.width, request.height, request.num_frames
        if request.kind == "image_to_video":
            still = _load_still(request.image_path)
            (src_w, src_h), move = plan_camera_move(
                width=w, height=h, motion_strength=request.motion_strength, seed=request.seed
            )
            # Fit once: centre-crop to the target aspect (never stretch), then resample.
            source = ImageOps.fit(still, (src_w, src_h), method=Image.Resampling.LANCZOS)
            frames = _camera_frames(source, move, w, h, n, progress)
            zoom = "zoom in" if move.zoom_in else "zoom out"
            notes = [f"procedural camera move: {zoom}, pan {move.direction}"]
        elif request.kind == "text_to_video":
            frames = _text_frames(request, progress)
            notes = ["procedural text scene on a neon gradient (CPU fallback)"]
        else:
            raise EngineError(f"The procedural engine cannot make {request.kind!r} videos.")
        return Clip(
            frames=frames,
            width=w,
            height=h,
            fps=float(request.fps),
            num_frames=n,
            engine=self.name,
            notes=notes,
        )


def _check_request(request: VideoRequest) -> None:
    if not (MIN_SIDE <= request.width <= MAX_SIDE and MIN_SIDE <= request.height <= MAX_SIDE):
        raise EngineError(f"Width and height must be between {MIN_SIDE} and {MAX_SIDE} pixels.")
    if not 1 <= request.num_frames <= MAX_FRAMES:
        raise EngineError(f"The number of frames must be between 1 and {MAX_FRAMES}.")
    if not request.fps > 0:
        raise EngineError("The frame rate must be positive.")


def _load_still(image_path: str | None) -> Image.Image:
    if not image_path:
        raise EngineError("An image is required for an image-to-video generation.")
    try:
        with Image.open(image_path) as im:
            im = ImageOps.exif_transpose(im)
            return im.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise EngineError("The input image could not be read.") from exc


def _camera_frames(
    source: Image.Image, move: CameraMove, w: int, h: int, n: int, progress: ProgressCallback
) -> Iterator[np.ndarray]:
    for i in range(n):
        e = smoothstep(i / (n - 1)) if n > 1 else 0.0
        view_w, cx, cy = move.at(e)
        s = view_w / w  # source pixels per output pixel, same on both axes
        x0, y0 = cx - view_w / 2.0, cy - h * s / 2.0
        frame = source.transform(
            (w, h),
            Image.Transform.AFFINE,
            (s, 0.0, x0, 0.0, s, y0),
            resample=Image.Resampling.BICUBIC,
        )
        progress("generating", i + 1, n)
        yield np.asarray(frame, dtype=np.uint8)


# --- text scenes -----------------------------------------------------------------------------


@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in _FONT_NAMES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)  # scalable with FreeType (Pillow >= 10.1)
    except (TypeError, ImportError, OSError):
        return ImageFont.load_default()


def _line_height(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    if isinstance(font, ImageFont.FreeTypeFont):
        ascent, descent = font.getmetrics()
        return ascent + descent
    left, top, right, bottom = font.getbbox("Ay")
    return bottom - top + 2


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_w: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= max_w:
                line = candidate
                continue
            if line:
                lines.append(line)
            # A word wider than the line is broken by characters.
            line = ""
            for ch in word:
                if line and font.getlength(line + ch) > max_w:
                    lines.append(line)
                    line = ""
                line += ch
        if line:
            lines.append(line)
    return lines


def _layout_text(prompt: str, w: int, h: int) -> tuple[int, list[str]]:
    """Font size and lines that fit the prompt into the middle of the frame."""
    max_w, max_h = 0.84 * w, 0.7 * h
    size = max(10, round(h / 9))
    while True:
        font = _font(size)
        lines = _wrap(prompt, font, max_w)
        if len(lines) * _line_height(font) <= max_h or size <= 10:
            break
        size = max(10, int(size * 0.88))
    max_lines = max(1, int(max_h // _line_height(font)))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(" .,;:") + "…"
    return size, lines


def _text_masks(prompt: str, w: int, h: int) -> tuple[Image.Image, Image.Image] | None:
    """Two L masks: the crisp text and its blurred glow, centred in a w×h frame."""
    text = " ".join(prompt.split()) if "\n" not in prompt else prompt.strip()
    if not text:
        return None
    size, lines = _layout_text(text, w, h)
    font = _font(size)
    line_h = _line_height(font)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    top = (h - line_h * len(lines)) / 2.0
    for i, line in enumerate(lines):
        x = (w - font.getlength(line)) / 2.0
        draw.text((x, top + i * line_h), line, font=font, fill=255)
    glow = mask.filter(ImageFilter.GaussianBlur(radius=max(2.0, size * 0.3)))
    return mask, glow


def _shift(mask: Image.Image, dy: float) -> np.ndarray:
    """The mask moved down by ``dy`` pixels (subpixel), as float32 in 0..1."""
    if abs(dy) > 1e-6:
        mask = mask.transform(
            mask.size,
            Image.Transform.AFFINE,
            (1.0, 0.0, 0.0, 0.0, 1.0, -dy),
            resample=Image.Resampling.BICUBIC,
        )
    return np.asarray(mask, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class _Palette:
    deep: np.ndarray
    glow_a: np.ndarray
    glow_b: np.ndarray
    band: np.ndarray
    accent: np.ndarray
    angle: float
    phases: tuple[float, float, float, float]


def _palette(seed: int) -> _Palette:
    rng = random.Random(seed)
    neon = rng.sample(range(len(_NEON)), 4)

    def color(values: tuple[int, int, int]) -> np.ndarray:
        return np.array(values, dtype=np.float32)

    return _Palette(
        deep=color(rng.choice(_DEEP)),
        glow_a=color(_NEON[neon[0]]),
        glow_b=color(_NEON[neon[1]]),
        band=color(_NEON[neon[2]]),
        accent=color(_NEON[neon[3]]),
        angle=rng.uniform(0.0, 2.0 * math.pi),
        phases=tuple(rng.uniform(0.0, 2.0 * math.pi) for _ in range(4)),
    )


def _text_frames(request: VideoRequest, progress: ProgressCallback) -> Iterator[np.ndarray]:
    w, h, n, fps = request.width, request.height, request.num_frames, float(request.fps)
    pal = _palette(request.seed)
    speed = 0.4 + 1.2 * min(1.0, max(0.0, float(request.motion_strength)))
    masks = _text_masks(request.prompt, w, h)

    aspect = w / h
    xs = np.linspace(-aspect, aspect, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    vignette = (1.0 - 0.3 * (xs * xs / (aspect * aspect) + ys * ys))[..., None]
    p0, p1, p2, p3 = pal.phases

    for i in range(n):
        tau = i / fps * speed  # scene time in seconds, scaled by motion
        # Two neon glows drifting on Lissajous paths, and a rotating band of a third colour.
        ax, ay = 0.8 * aspect * math.sin(0.7 * tau + p0), 0.6 * math.sin(0.9 * tau + p1)
        bx, by = 0.8 * aspect * math.sin(0.5 * tau + p2), 0.6 * math.cos(0.8 * tau + p3)
        glow_a = np.exp(-((xs - ax) ** 2 + (ys - ay) ** 2) / 0.45)
        glow_b = np.exp(-((xs - bx) ** 2 + (ys - by) ** 2) / 0.35)
        angle = pal.angle + 0.35 * tau
        along = xs * math.cos(angle) + ys * math.sin(angle)
        band = 0.5 + 0.5 * np.sin(2.2 * along + 1.4 * tau + p0)
        rgb = (
            pal.deep
            + (0.55 * glow_a)[..., None] * pal.glow_a
            + (0.45 * glow_b)[..., None] * pal.glow_b
            + (0.18 * band * band)[..., None] * pal.band
        ) * vignette

        if masks is not None:
            t = i / (n - 1) if n > 1 else 1.0
            reveal = smoothstep(t / 0.4)
            alpha = 0.45 + 0.55 * reveal  # partly visible at once, so the thumbnail shows it
            dy = (1.0 - reveal) * 0.08 * h  # slides up into place
            pulse = 0.8 + 0.2 * math.sin(2.0 * math.pi * i / max(n, 8))
            text, glow = (_shift(m, dy) for m in masks)
            glow_amount = np.minimum(1.0, 1.6 * glow) * (0.85 * alpha * pulse)
            rgb += glow_amount[..., None] * (pal.accent - rgb)
            rgb += (text * alpha)[..., None] * (255.0 - rgb)

        progress("generating", i + 1, n)
        yield np.clip(rgb + 0.5, 0.0, 255.0).astype(np.uint8)
