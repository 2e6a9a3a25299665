"""Fixtures for the diffusers engines: tiny random-weight models, built once per test session."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

DIFFUSION_ENV = (
    "TORCH_DEVICE",
    "DIFFUSERS_DTYPE",
    "DIFFUSERS_CPU_OFFLOAD",
    "DIFFUSERS_OPTIMIZE",
)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """``{"svd": dir, "zeroscope": dir}``: tiny pipelines written with ``save_pretrained``.

    The SVD UNet's ``num_frames`` is 25, like SVD-XT's.
    """
    pytest.importorskip("diffusers")
    from workers.tiny_models import write_tiny_models

    paths = write_tiny_models(tmp_path_factory.mktemp("tiny-models"))
    return {name: str(path) for name, path in paths.items()}


@pytest.fixture
def fresh_engines(monkeypatch):
    """No cached engines or pipelines before or after the test; no diffusers settings from the
    environment (a developer's TORCH_DEVICE must not change what a test runs)."""
    from workers.engines import clear_engine_cache
    from workers.engines.diffusion import clear_pipeline_cache

    for name in DIFFUSION_ENV:
        monkeypatch.delenv(name, raising=False)
    clear_engine_cache()
    clear_pipeline_cache()
    yield
    clear_engine_cache()
    clear_pipeline_cache()


@pytest.fixture
def pipeline_calls(monkeypatch):
    """``spy(pipe)`` records the keyword arguments of every call of ``pipe``'s class."""

    def spy(pipe) -> list[dict]:
        calls: list[dict] = []
        cls = type(pipe)
        original = cls.__call__

        def recording_call(self, *args, **kwargs):
            calls.append(dict(kwargs))
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__call__", recording_call)
        return calls

    return spy


class Events(list):
    """A progress callback that records (stage, step, total) and may raise at one event."""

    def __init__(self, raise_at: tuple[str, int] | None = None, exc: BaseException | None = None):
        super().__init__()
        self.raise_at = raise_at
        self.exc = exc

    def __call__(self, stage: str, step: int, total: int) -> None:
        self.append((stage, step, total))
        if self.raise_at == (stage, step):
            raise self.exc

    def stage(self, name: str) -> list[tuple[str, int, int]]:
        return [e for e in self if e[0] == name]


@pytest.fixture
def recorder() -> type[Events]:
    """The ``Events`` class: ``recorder()`` records, ``recorder(("generating", 2), exc)`` raises."""
    return Events


@pytest.fixture
def image_file(tmp_path):
    """``image_file(width, height)``: a PNG with gradients and noise; returns its path."""

    def write(width: int, height: int, *, seed: int = 0, name: str = "still.png") -> str:
        rng = np.random.default_rng(seed)
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
        noise = rng.uniform(0, 255, (height, width))
        rgb = np.stack([255 * xs / width, 255 * ys / height, noise], axis=-1)
        path = tmp_path / name
        Image.fromarray(rgb.astype(np.uint8)).save(path)
        return str(path)

    return write
