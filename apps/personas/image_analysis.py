"""Local "character from image" analysis: what Pillow can tell without a model.

Dominant colours (median-cut quantisation), brightness, saturation and aspect give a palette and
a few honest style words; who the character is stays for the user to write.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

from PIL import Image, ImageStat

PALETTE_SIZE = 5


@dataclass(frozen=True)
class ImageTraits:
    palette: list[str]  # "#rrggbb", most frequent first
    colour_names: list[str]
    brightness: float  # 0..1
    saturation: float  # 0..1
    aspect: str  # portrait | landscape | square
    width: int
    height: int


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def colour_name(rgb: tuple[int, int, int]) -> str:
    """A plain name for a colour: good enough for style words, not a colour science."""
    r, g, b = (c / 255 for c in rgb)
    hue, lightness, saturation = colorsys.rgb_to_hls(r, g, b)
    if lightness < 0.12:
        return "black"
    if lightness > 0.9:
        return "white"
    if saturation < 0.15:
        return "grey"
    degrees = hue * 360
    if degrees < 15 or degrees >= 345:
        name = "red"
    elif degrees < 40:
        name = "orange" if lightness > 0.35 else "brown"
    elif degrees < 70:
        name = "yellow"
    elif degrees < 165:
        name = "green"
    elif degrees < 200:
        name = "cyan"
    elif degrees < 255:
        name = "blue"
    elif degrees < 290:
        name = "purple"
    elif degrees < 330:
        name = "magenta"
    else:
        name = "pink"
    return name


def image_traits(image: Image.Image) -> ImageTraits:
    width, height = image.size
    small = image.convert("RGB")
    small.thumbnail((160, 160))
    quantised = small.quantize(colors=PALETTE_SIZE, method=Image.Quantize.MEDIANCUT)
    flat = quantised.getpalette() or []
    counts = sorted(quantised.getcolors() or [], reverse=True)
    colours = [tuple(flat[index * 3 : index * 3 + 3]) for _, index in counts]
    names: list[str] = []
    for rgb in colours:
        name = colour_name(rgb)
        if name not in names:
            names.append(name)
    brightness = ImageStat.Stat(small.convert("L")).mean[0] / 255
    saturation = ImageStat.Stat(small.convert("HSV")).mean[1] / 255
    ratio = width / height
    aspect = "landscape" if ratio > 1.15 else "portrait" if ratio < 0.87 else "square"
    return ImageTraits(
        palette=[_hex(rgb) for rgb in colours],
        colour_names=names,
        brightness=round(brightness, 3),
        saturation=round(saturation, 3),
        aspect=aspect,
        width=width,
        height=height,
    )


def style_words(traits: ImageTraits) -> list[str]:
    words = []
    if traits.brightness < 0.3:
        words += ["low-key lighting", "moody"]
    elif traits.brightness > 0.7:
        words += ["bright", "airy light"]
    else:
        words.append("balanced lighting")
    if traits.saturation > 0.55:
        words.append("vivid saturated colour")
    elif traits.saturation < 0.2:
        words.append("muted palette")
    main = [n for n in traits.colour_names if n not in ("black", "white", "grey")][:2]
    if main:
        words.append(" and ".join(main) + " tones")
    words.append(f"{traits.aspect} framing")
    return words
