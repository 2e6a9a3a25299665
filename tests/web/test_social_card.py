"""scripts/make_social_card.py draws the shipped social card, pixel for pixel."""

import importlib.util
from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parents[2]


def test_the_script_redraws_the_shipped_card():
    spec = importlib.util.spec_from_file_location(
        "make_social_card", ROOT / "scripts" / "make_social_card.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)

    drawn = script.card()
    shipped = Image.open(ROOT / "static" / "img" / "social-card.png").convert("RGB")
    assert drawn.size == shipped.size == (1200, 630)
    assert ImageChops.difference(drawn, shipped).getbbox() is None
