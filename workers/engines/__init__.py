"""Engine registry.

Engines are named by an import path (``"module:attr"``) and imported only when first asked
for, so importing ``workers.engines`` never imports torch or diffusers. ``attr`` is a class or
a factory called with the keyword options given to ``get_engine`` (the diffusion engines take
``model`` and ``device``; procedural takes none). One instance is kept per (name, options) for
the life of the process, so a model that an engine loads on first use stays loaded for the next
generation.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable

from workers.engines.base import (
    STAGES,
    Clip,
    Engine,
    EngineError,
    EngineUnavailable,
    GenerationCanceled,
    ProgressCallback,
    VideoRequest,
)

__all__ = [
    "STAGES",
    "Clip",
    "Engine",
    "EngineError",
    "EngineUnavailable",
    "GenerationCanceled",
    "ProgressCallback",
    "VideoRequest",
    "available_engines",
    "clear_engine_cache",
    "get_engine",
    "register_engine",
]

_REGISTRY: dict[str, str | Callable[..., Engine]] = {
    "procedural": "workers.engines.procedural:ProceduralEngine",
    "svd": "workers.engines.svd:SVDEngine",
    "zeroscope": "workers.engines.zeroscope:ZeroscopeEngine",
}
_instances: dict[tuple[str, tuple[tuple[str, object], ...]], Engine] = {}
_lock = threading.Lock()


def register_engine(name: str, target: str | Callable[..., Engine]) -> None:
    """Register (or replace) an engine: an import path ``"module:attr"`` or a factory."""
    with _lock:
        _REGISTRY[name] = target
        for key in [key for key in _instances if key[0] == name]:
            del _instances[key]


def available_engines() -> tuple[str, ...]:
    """Names that ``get_engine`` knows; a listed engine may still be unavailable to load."""
    return tuple(_REGISTRY)


def clear_engine_cache() -> None:
    """Forget the engine instances built so far (tests, or to release a model)."""
    with _lock:
        _instances.clear()


def get_engine(name: str, **options: object) -> Engine:
    """The process-wide engine called ``name`` built with ``options`` (hashable values).

    The same name and options give the same instance. ``EngineUnavailable`` when the engine
    cannot be had: unknown, not importable on this worker, or its settings are wrong (a diffusion
    engine checks its model setting here; the model itself loads on the first ``generate``).
    """
    key = (name, tuple(sorted(options.items())))
    with _lock:
        engine = _instances.get(key)
        if engine is not None:
            return engine
        target = _REGISTRY.get(name)
        if target is None:
            known = ", ".join(sorted(_REGISTRY))
            raise EngineUnavailable(f"Unknown engine {name!r} (known engines: {known}).")
        factory = _resolve(name, target) if isinstance(target, str) else target
        engine = factory(**options)
        _instances[key] = engine
        return engine


def _resolve(name: str, target: str) -> Callable[..., Engine]:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailable(
            f"The {name!r} engine is not available on this worker "
            f"(cannot import {module_name}: {exc})."
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise EngineUnavailable(
            f"The {name!r} engine is not available on this worker ({target} not found)."
        ) from exc
