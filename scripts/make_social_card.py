"""Draw the default social card, static/img/social-card.png: 1200 x 630, the site's palette and
its self-hosted fonts (Orbitron, Roboto Mono). It is every page's og:image / twitter:image when
the page has no picture of its own (apps/web/context_processors.py).

    .venv/bin/python scripts/make_social_card.py [--out PATH]

Run it after changing the card's words or colours and commit the PNG; the output is the same
pixels every time for the same Pillow and fonts.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "static" / "fonts"
OUT = ROOT / "static" / "img" / "social-card.png"

W, H = 1200, 630
# static/css/app.css: --cyan, --magenta, --text, --muted
CYAN, MAGENTA = (60, 232, 255), (255, 95, 220)
TEXT, MUTED = (238, 240, 255), (180, 185, 232)
SKY_TOP, SKY_BOTTOM = (7, 8, 26), (28, 12, 66)
HORIZON = 430
TITLE = ("AI ", "LOUNGE")  # "LOUNGE" in magenta, like the nav's brand
SUBTITLE = "Images and prompts into short videos"
TAGLINE = "image to video · text to video · storyboards"


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def sky() -> Image.Image:
    """A vertical gradient, dark navy to violet."""
    img = Image.new("RGB", (W, H))
    px = img.load()
    for y in range(H):
        t = y / (H - 1)
        row = tuple(int(SKY_TOP[i] + (SKY_BOTTOM[i] - SKY_TOP[i]) * t) for i in range(3))
        for x in range(W):
            px[x, y] = row
    return img.convert("RGBA")


def grid_floor(img: Image.Image) -> Image.Image:
    """A magenta perspective grid under the horizon, glowing, fading into the sky."""
    grid = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    g = ImageDraw.Draw(grid)
    vx = W // 2
    for i in range(-14, 15):
        g.line([(vx, HORIZON), (vx + i * 140, H + 40)], fill=MAGENTA + (120,), width=2)
    y, step = HORIZON + 6, 6
    while y < H:
        alpha = int(40 + 160 * (y - HORIZON) / (H - HORIZON))
        g.line([(0, y), (W, y)], fill=MAGENTA + (alpha,), width=2)
        step *= 1.35
        y += int(step)
    img = Image.alpha_composite(img, grid.filter(ImageFilter.GaussianBlur(6)))
    img = Image.alpha_composite(img, grid)

    fade = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    f = ImageDraw.Draw(fade)
    for i in range(60):
        f.line([(0, HORIZON + i), (W, HORIZON + i)], fill=(20, 10, 50, int(230 * (1 - i / 60))))
    img = Image.alpha_composite(img, fade)
    ImageDraw.Draw(img).line([(0, HORIZON), (W, HORIZON)], fill=CYAN + (255,), width=2)
    return img


def sun(img: Image.Image) -> Image.Image:
    """A blurred magenta sun behind the title."""
    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    vx = W // 2
    ImageDraw.Draw(layer).ellipse(
        [vx - 170, HORIZON - 300, vx + 170, HORIZON + 40], fill=MAGENTA + (70,)
    )
    return Image.alpha_composite(img, layer.filter(ImageFilter.GaussianBlur(60)))


def title(img: Image.Image) -> Image.Image:
    """The name, centred, in cyan and magenta with a two-step glow."""
    title_font = font("orbitron-latin-700-normal.woff2", 112)
    layer = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    t = ImageDraw.Draw(layer)
    first, second = TITLE
    wa = t.textlength(first, font=title_font)
    wb = t.textlength(second, font=title_font)
    x0, y0 = (W - wa - wb) / 2, 150
    t.text((x0, y0), first, font=title_font, fill=CYAN + (255,))
    t.text((x0 + wa, y0), second, font=title_font, fill=MAGENTA + (255,))
    for radius in (18, 6):
        img = Image.alpha_composite(img, layer.filter(ImageFilter.GaussianBlur(radius)))
    return Image.alpha_composite(img, layer)


def centered(draw: ImageDraw.ImageDraw, y: int, text: str, text_font, fill) -> None:
    box = draw.textbbox((0, 0), text, font=text_font)
    draw.text(((W - (box[2] - box[0])) / 2 - box[0], y), text, font=text_font, fill=fill)


def card() -> Image.Image:
    img = title(sun(grid_floor(sky())))
    d = ImageDraw.Draw(img)
    centered(d, 300, SUBTITLE, font("roboto-mono-latin-500-normal.woff2", 36), TEXT)
    centered(d, 356, TAGLINE, font("roboto-mono-latin-400-normal.woff2", 28), MUTED)
    # A frame like the site's panels.
    d.rounded_rectangle([24, 24, W - 25, H - 25], radius=28, outline=CYAN + (200,), width=3)
    return img.convert("RGB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT.relative_to(ROOT)}")
    args = parser.parse_args()
    card().save(args.out, optimize=True)
    print(f"wrote {args.out} ({W}x{H})")


if __name__ == "__main__":
    main()
