"""The one pricing function. The quote endpoint and the charge both call `price_generation`.

Diffusion is priced by work (frames × steps × pixels, relative to a reference job); the CPU
procedural engine costs a small flat price; a storyboard is the sum of its scenes plus assembly.
SVD's turbo tier (``quality=turbo``: feature reuse across steps, faster and approximate) costs
``SVD_TURBO_PRICE_FACTOR`` (a setting, default 0.6) of the stock price, rounded up, exactly (a
decimal fraction, no floats). No database; the constants below and that one setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PROCEDURAL_PRICE = 1
ASSEMBLY_PRICE = 1
# Reference diffusion jobs and what they cost: SVD-XT 1024×576×25 frames×25 steps = 10 credits;
# Zeroscope 576×320×24 frames×20 steps = 4 credits. Cost scales linearly with the work.
DIFFUSION_REFERENCE = {
    "svd": (1024 * 576 * 25 * 25, 10),
    "zeroscope": (576 * 320 * 24 * 20, 4),
}
DIFFUSION_MIN_PRICE = 2
TURBO_QUALITY = "turbo"


def turbo_price_factor() -> Fraction:
    """``SVD_TURBO_PRICE_FACTOR`` as an exact fraction in (0, 1]."""
    raw = str(getattr(settings, "SVD_TURBO_PRICE_FACTOR", "0.6")).strip()
    try:
        factor = Fraction(raw)
    except ValueError:
        factor = Fraction(-1)
    if not 0 < factor <= 1:
        raise ImproperlyConfigured(
            f"SVD_TURBO_PRICE_FACTOR={raw!r}: use a number above 0 and at most 1 (e.g. 0.6)."
        )
    return factor


def resolve_paid_engine(*, kind: str, engine: str) -> str:
    """The engine that prices a request: `auto` is priced as what it resolved to at create time."""
    if engine in ("svd", "zeroscope", "procedural"):
        return engine
    return "procedural"


@dataclass(frozen=True)
class StoryboardPrice:
    scenes: tuple[int, ...]  # each scene's own price, in order
    assembly: int

    @property
    def total(self) -> int:
        return sum(self.scenes) + self.assembly


def price_storyboard(*, engine: str, scenes) -> StoryboardPrice:
    """Each scene priced as the generation it is (its kind, engine, params), plus assembly.

    `scenes`: mappings with `kind`, `engine` (resolved) and `params`; `engine` is the default
    for a scene without one.
    """
    return StoryboardPrice(
        scenes=tuple(
            price_generation(
                kind=scene.get("kind", "text_to_video"),
                engine=scene.get("engine", engine),
                params=scene.get("params", {}),
            )
            for scene in scenes
        ),
        assembly=ASSEMBLY_PRICE,
    )


def price_generation(*, kind: str, engine: str, params: Mapping[str, Any]) -> int:
    """Credits for one generation. `engine` is the resolved engine (never `auto`)."""
    if kind == "storyboard":
        return price_storyboard(engine=engine, scenes=params.get("scenes") or []).total
    if engine == "procedural":
        return PROCEDURAL_PRICE
    reference_work, reference_price = DIFFUSION_REFERENCE[engine]
    work = (
        int(params["width"])
        * int(params["height"])
        * int(params["num_frames"])
        * int(params["num_inference_steps"])
    )
    price = Fraction(reference_price * work, reference_work)
    if engine == "svd" and params.get("quality") == TURBO_QUALITY:
        price *= turbo_price_factor()
    return max(DIFFUSION_MIN_PRICE, math.ceil(price))
