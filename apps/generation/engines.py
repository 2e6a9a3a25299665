"""Which engine runs a request, decided in the web process without importing any ML library.

`GENERATION_ENGINE` sets the policy: `procedural` (CPU only), `diffusers` (SVD for images,
Zeroscope for text, default hub models), or `auto` (diffusers where a model is configured
through SVD_MODEL / ZEROSCOPE_MODEL, procedural otherwise). At run time `auto` falls back to
procedural when the model cannot be loaded, and the result says so.
"""

from __future__ import annotations

from django.conf import settings

from apps.core.exceptions import ApplicationError, ServiceUnavailable

DEFAULT_MODELS = {
    "svd": "stabilityai/stable-video-diffusion-img2vid-xt",
    "zeroscope": "cerspense/zeroscope_v2_576w",
}
DIFFUSION_ENGINE_FOR_KIND = {"image_to_video": "svd", "text_to_video": "zeroscope"}
QUEUE_FOR_ENGINE = {"procedural": "cpu", "svd": "gpu", "zeroscope": "gpu"}


def engine_model(engine: str) -> str:
    """The model (hub id or local path) an engine loads, or "" when none is configured."""
    configured = {"svd": settings.SVD_MODEL, "zeroscope": settings.ZEROSCOPE_MODEL}.get(engine, "")
    if configured:
        return configured
    if settings.GENERATION_ENGINE == "diffusers":
        return DEFAULT_MODELS.get(engine, "")
    return ""


def engine_available(engine: str) -> bool:
    if engine == "procedural":
        return True
    if settings.GENERATION_ENGINE == "procedural":
        return False
    return bool(engine_model(engine))


def engine_choose(*, kind: str, requested: str) -> str:
    """Resolve the asked engine (`auto` or a name) to the one that will be queued."""
    diffusion = DIFFUSION_ENGINE_FOR_KIND.get(kind)
    if requested == "auto":
        return diffusion if diffusion and engine_available(diffusion) else "procedural"
    if requested == "procedural":
        return "procedural"
    if requested != diffusion:
        raise ApplicationError(
            f"engine: {requested} cannot make {kind.replace('_', ' ')} videos; "
            f"use {diffusion}, procedural or auto.",
            code="invalid_engine",
        )
    if not engine_available(requested):
        setting = "SVD_MODEL" if requested == "svd" else "ZEROSCOPE_MODEL"
        raise ServiceUnavailable(
            f"The {requested} engine is not enabled on this server: set GENERATION_ENGINE=diffusers "
            f"or {setting} to a model id or local path, and run a GPU worker. "
            "Use engine=auto or procedural meanwhile.",
            code="engine_unavailable",
        )
    return requested


def engine_queue(engine: str) -> str:
    return QUEUE_FOR_ENGINE[engine]
