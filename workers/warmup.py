"""Warm-up of a GPU worker's engines at start: ``DIFFUSERS_WARMUP``.

``DIFFUSERS_WARMUP`` is a comma list of ``engine:WIDTHxHEIGHTxFRAMES`` entries, optionally with
``:turbo`` (SVD's feature-reuse path, which is compiled apart), e.g.
``svd:1024x576x25,svd:1024x576x25:turbo,zeroscope:576x320x24``. Each entry runs one short
generation (``WARMUP_STEPS`` steps, a synthetic input) through the engine's real ``generate``, so
the pipeline loads and, with ``DIFFUSERS_OPTIMIZE=compile,...``, torch.compile compiles for that
size before the first user's job; a user's job at that size then pays no compile. Inductor keeps
what it compiled in ``TORCHINDUCTOR_CACHE_DIR`` (a volume in docker/compose.yaml), so a restarted
worker loads it instead of compiling again (measured in BENCHMARKS.md, "Diffusion engines").

This module knows nothing of Celery or Django: config/warmup.py runs it in each worker child
before the worker consumes from its queues, with the platform's engine settings.
"""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workers.engines.base import Engine, EngineUnavailable, VideoRequest

logger = logging.getLogger(__name__)

ENV_WARMUP = "DIFFUSERS_WARMUP"
WARMUP_STEPS = 2
ENGINES = ("svd", "zeroscope")
_ENTRY = re.compile(r"^(?P<engine>[a-z]+):(?P<w>\d+)x(?P<h>\d+)x(?P<f>\d+)(?::(?P<q>turbo))?$")
WARMUP_PROMPT = "a lighthouse on a cliff at night, waves crashing"


@dataclass(frozen=True)
class WarmupSize:
    engine: str
    width: int
    height: int
    num_frames: int
    quality: str = "standard"

    def __str__(self) -> str:
        suffix = ":turbo" if self.quality == "turbo" else ""
        return f"{self.engine}:{self.width}x{self.height}x{self.num_frames}{suffix}"


def parse_warmup(spec: str) -> list[WarmupSize]:
    """The entries of a ``DIFFUSERS_WARMUP`` value; a malformed one is ``EngineUnavailable``."""
    sizes = []
    for raw in (part.strip() for part in (spec or "").split(",")):
        if not raw:
            continue
        match = _ENTRY.match(raw.lower())
        if not match or match["engine"] not in ENGINES or (match["q"] and match["engine"] != "svd"):
            raise EngineUnavailable(
                f"DIFFUSERS_WARMUP entry {raw!r}: use engine:WIDTHxHEIGHTxFRAMES with engine svd "
                "or zeroscope (svd may add :turbo), e.g. svd:1024x576x25,zeroscope:576x320x24."
            )
        size = WarmupSize(
            match["engine"],
            int(match["w"]),
            int(match["h"]),
            int(match["f"]),
            match["q"] or "standard",
        )
        if min(size.width, size.height, size.num_frames) < 1:
            raise EngineUnavailable(f"DIFFUSERS_WARMUP entry {raw!r}: sizes must be positive.")
        sizes.append(size)
    return sizes


@dataclass
class WarmupResult:
    size: WarmupSize
    seconds: float
    error: str = ""


def _still(directory: Path, width: int, height: int) -> str:
    from PIL import Image

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([255 * xs / width, 255 * ys / height, 128 + 127 * np.sin(xs / 17.0)], axis=-1)
    path = directory / f"warmup-{width}x{height}.png"
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return str(path)


def warm_up(
    sizes: list[WarmupSize], *, engine_for: Callable[[str], Engine], steps: int = WARMUP_STEPS
) -> list[WarmupResult]:
    """Run one short generation per size; log and return each one's time.

    A size that fails is logged with its error and the others still run: the worker then
    serves as it would have without a warm-up (its first job at that size compiles).
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="warmup-") as tmp:
        for size in sizes:
            start = time.perf_counter()
            logger.info("Warm-up: %s (%d steps)...", size, steps)
            try:
                engine = engine_for(size.engine)
                request = VideoRequest(
                    kind="image_to_video" if size.engine == "svd" else "text_to_video",
                    prompt=WARMUP_PROMPT if size.engine == "zeroscope" else "",
                    image_path=_still(Path(tmp), size.width, size.height)
                    if size.engine == "svd"
                    else None,
                    width=size.width,
                    height=size.height,
                    num_frames=size.num_frames,
                    num_inference_steps=steps,
                    fps=7 if size.engine == "svd" else 8,
                    seed=0,
                    extra={"quality": size.quality} if size.quality == "turbo" else {},
                )
                clip = engine.generate(request, progress=lambda *a: None)
                frames = list(clip.frames)  # a lazy clip renders here
                if len(frames) != size.num_frames:
                    raise EngineUnavailable(f"got {len(frames)} frames, not {size.num_frames}")
            except Exception as exc:  # noqa: BLE001 - logged; the worker still serves
                seconds = time.perf_counter() - start
                logger.error(
                    "Warm-up: %s failed after %.1f s: %s: %s",
                    size,
                    seconds,
                    type(exc).__name__,
                    exc,
                )
                results.append(WarmupResult(size, seconds, f"{type(exc).__name__}: {exc}"))
                continue
            seconds = time.perf_counter() - start
            logger.info("Warm-up: %s done in %.2f s", size, seconds)
            results.append(WarmupResult(size, seconds))
    return results
