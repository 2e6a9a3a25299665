"""What the diffusers engines share: device and dtype, the model cache, progress glue, OOM retry.

- Device: the engine's ``device`` option (the bridge passes ``TORCH_DEVICE``), else the
  ``TORCH_DEVICE`` environment variable, else CUDA when there is a GPU, else the CPU.
- Dtype: float16 on CUDA (loading the repository's ``fp16`` weight variant when it has one),
  float32 on the CPU; ``DIFFUSERS_DTYPE`` (``float16`` / ``bfloat16`` / ``float32``) overrides.
- One pipeline per (model, dtype, device) for the life of the process: the second generation on
  a warm worker loads nothing. Loading is lazy, on the first ``generate``, inside the worker's
  child process (CUDA must not be initialised before a fork).
- Memory: ``DIFFUSERS_CPU_OFFLOAD=1`` (or ``cpu_offload`` in a request's ``extra``) keeps the
  model in CPU memory and moves each component to the GPU only while it runs
  (``enable_model_cpu_offload``); the VAE decodes in chunks of frames; attention is PyTorch's
  SDPA (diffusers' default processor on torch 2). On ``torch.cuda.OutOfMemoryError`` a
  generation frees the cache and is retried once with CPU offload and one frame per decode
  chunk, then fails with a message saying what to change.
- Speed: ``DIFFUSERS_OPTIMIZE`` (a comma list of ``cudnn_benchmark``, ``compile``,
  ``compile_vae``, ``fuse_qkv``, ``channels_last``; empty or ``none`` for nothing) applies
  ``optimize_pipeline`` once after loading. BENCHMARKS.md ("Diffusion engines") has what each
  is worth on an H100: compile + compile_vae 1.43-1.44x; fuse_qkv + channels_last slower.
- Progress: ("loading model", 0..1, 1), ("generating", step, steps) from the pipeline's step
  callback, ("decoding", chunk, chunks) from a wrapper around ``vae.decode``. The progress
  callback may raise ``GenerationCanceled``; nothing here catches it.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from workers.engines.base import EngineError, EngineUnavailable, ProgressCallback

logger = logging.getLogger(__name__)

ENV_DEVICE = "TORCH_DEVICE"
ENV_DTYPE = "DIFFUSERS_DTYPE"
ENV_CPU_OFFLOAD = "DIFFUSERS_CPU_OFFLOAD"
ENV_OPTIMIZE = "DIFFUSERS_OPTIMIZE"
DTYPES = {
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float32": torch.float32,
    "fp32": torch.float32,
}
OPTIMIZATIONS = ("cudnn_benchmark", "compile", "compile_vae", "fuse_qkv", "channels_last")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_TRUE = {"1", "true", "yes", "on"}

T = TypeVar("T")


# --- device and dtype ------------------------------------------------------------------------


def resolve_device(device: str | None = None) -> str:
    """The torch device to run on: the option, else TORCH_DEVICE, else cuda when present."""
    chosen = (device or os.environ.get(ENV_DEVICE) or "").strip()
    if not chosen:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if chosen.startswith("cuda") and not torch.cuda.is_available():
        raise EngineUnavailable(
            f"TORCH_DEVICE is {chosen!r} but this worker sees no CUDA GPU: run it on a GPU "
            "machine with CUDA-enabled torch, or unset TORCH_DEVICE to use the CPU."
        )
    return chosen


def resolve_dtype(device: str) -> torch.dtype:
    """float16 on CUDA, float32 elsewhere; DIFFUSERS_DTYPE overrides."""
    name = os.environ.get(ENV_DTYPE, "").strip().lower()
    if name:
        if name not in DTYPES:
            raise EngineUnavailable(
                f"DIFFUSERS_DTYPE={name!r} is not one of float16, bfloat16, float32."
            )
        return DTYPES[name]
    return torch.float16 if device.startswith("cuda") else torch.float32


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def optimizations_from_env() -> tuple[str, ...]:
    raw = os.environ.get(ENV_OPTIMIZE, "").strip().lower()
    if raw in ("", "none", "0", "off"):
        return ()
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    unknown = [n for n in names if n not in OPTIMIZATIONS]
    if unknown:
        raise EngineUnavailable(
            f"DIFFUSERS_OPTIMIZE has unknown entries {unknown}; use {', '.join(OPTIMIZATIONS)}."
        )
    return names


# --- model sources ---------------------------------------------------------------------------


def check_model_source(model: str, *, engine: str, setting: str, pipeline_class: str) -> None:
    """Cheap checks before anything loads: a local directory must hold this pipeline.

    A hub id (``org/name``) is not checked here; whether it downloads is known only when it
    loads. Raises ``EngineUnavailable`` naming the setting to fix.
    """
    if not model:
        raise EngineUnavailable(
            f"No model is configured for the {engine} engine: set {setting} to a Hugging Face "
            "hub id or a local diffusers directory (python manage.py make_tiny_models var/models "
            "writes a tiny test model), or GENERATION_ENGINE=diffusers for the default model."
        )
    path = Path(model).expanduser()
    if path.exists():
        index = path / "model_index.json"
        try:
            class_name = json.loads(index.read_text())["_class_name"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EngineUnavailable(
                f"{setting}={model!r} is not a diffusers model directory (cannot read its "
                f"model_index.json: {exc}). Point {setting} at a directory written by "
                "save_pretrained, or at a hub id."
            ) from exc
        if class_name != pipeline_class:
            raise EngineUnavailable(
                f"{setting}={model!r} holds a {class_name}, not a {pipeline_class}: point "
                f"{setting} at a {engine} model."
            )
        return
    if not _HUB_ID.match(model):
        raise EngineUnavailable(
            f"{setting}={model!r}: no such directory, and it is not a hub id (org/name). Set "
            f"{setting} to an existing local model directory or a Hugging Face hub id."
        )


def _has_fp16_variant(path: Path) -> bool:
    return any(path.glob("*/*.fp16.safetensors")) or any(path.glob("*/*.fp16.bin"))


# --- the process-wide pipeline cache ---------------------------------------------------------


@dataclass
class LoadedPipeline:
    """A loaded pipeline and how it is placed; shared by every engine using the same key."""

    pipe: Any
    model: str
    device: str
    dtype: torch.dtype
    offloaded: bool = False
    optimizations: tuple[str, ...] = ()
    turbo: Any = None  # SVD's feature-reuse UNet stand-in, made on first use (svd.turbo_unet)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


_cache: dict[tuple[str, str, str], LoadedPipeline] = {}
_load_lock = threading.Lock()


def cache_key(model: str, dtype: torch.dtype, device: str) -> tuple[str, str, str]:
    path = Path(model).expanduser()
    source = str(path.resolve()) if path.exists() else model
    return source, str(dtype).removeprefix("torch."), device


def clear_pipeline_cache() -> None:
    """Drop every cached pipeline (tests, or to give the memory back) and free the GPU cache."""
    with _load_lock:
        _cache.clear()
    free_memory()


def cached_pipelines() -> dict[tuple[str, str, str], LoadedPipeline]:
    return dict(_cache)


def load_pipeline(
    pipeline_cls: Any,
    *,
    model: str,
    device: str,
    dtype: torch.dtype,
    engine: str,
    setting: str,
    progress: ProgressCallback,
    cpu_offload: bool = False,
    optimizations: tuple[str, ...] = (),
) -> LoadedPipeline:
    """The cached pipeline for (model, dtype, device), loading it the first time.

    Reports ("loading model", 0, 1) and ("loading model", 1, 1) either way, so a client always
    sees the stage; only the first call per key does any work.
    """
    key = cache_key(model, dtype, device)
    progress("loading model", 0, 1)
    loaded = _cache.get(key)
    if loaded is None:
        with _load_lock:
            loaded = _cache.get(key)
            if loaded is None:
                loaded = _load(
                    pipeline_cls,
                    model=model,
                    device=device,
                    dtype=dtype,
                    engine=engine,
                    setting=setting,
                    cpu_offload=cpu_offload or env_flag(ENV_CPU_OFFLOAD),
                    optimizations=optimizations,
                )
                _cache[key] = loaded
    if cpu_offload and not loaded.offloaded:
        enable_cpu_offload(loaded)
    progress("loading model", 1, 1)
    return loaded


def _load(
    pipeline_cls: Any,
    *,
    model: str,
    device: str,
    dtype: torch.dtype,
    engine: str,
    setting: str,
    cpu_offload: bool,
    optimizations: tuple[str, ...],
) -> LoadedPipeline:
    _quiet_progress_bars()
    path = Path(model).expanduser()
    local = path.exists()
    source = str(path) if local else model
    try:
        if dtype == torch.float16 and (not local or _has_fp16_variant(path)):
            try:
                pipe = pipeline_cls.from_pretrained(source, dtype=dtype, variant="fp16")
            except (OSError, ValueError) as exc:
                if local:
                    raise
                logger.info("%s: no fp16 variant (%s); loading the default weights", model, exc)
                pipe = pipeline_cls.from_pretrained(source, dtype=dtype)
        else:
            pipe = pipeline_cls.from_pretrained(source, dtype=dtype)
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:
        raise EngineUnavailable(
            f"The {engine} model {model!r} could not be loaded ({type(exc).__name__}: "
            f"{_first_line(exc)}). Set {setting} to a local diffusers directory (python "
            "manage.py make_tiny_models var/models writes a tiny test model) or to a hub id "
            "this worker can download."
        ) from exc
    pipe.set_progress_bar_config(disable=True)
    loaded = LoadedPipeline(pipe=pipe, model=model, device=device, dtype=dtype)
    if cpu_offload and device.startswith("cuda"):
        enable_cpu_offload(loaded)
    else:
        pipe.to(device)
    if optimizations:
        # torch.compile and accelerate's offload hooks do not mix: offload wins.
        chosen = [n for n in optimizations if not (loaded.offloaded and n.startswith("compile"))]
        loaded.optimizations = tuple(optimize_pipeline(pipe, **dict.fromkeys(chosen, True)))
    logger.info("Loaded %s model %s on %s as %s", engine, model, device, dtype)
    return loaded


def enable_cpu_offload(loaded: LoadedPipeline) -> None:
    """Keep the model in CPU memory, each component on the GPU only while it runs (CUDA only)."""
    if loaded.offloaded or not loaded.device.startswith("cuda"):
        return
    loaded.pipe.enable_model_cpu_offload(device=loaded.device)
    loaded.offloaded = True
    logger.info("CPU offload enabled for %s", loaded.model)


def _quiet_progress_bars() -> None:
    try:
        from diffusers.utils import logging as diffusers_logging
        from transformers.utils import logging as transformers_logging
    except ImportError:  # pragma: no cover - both ship with the worker requirements
        return
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "no message"


# --- speed -----------------------------------------------------------------------------------


def optimize_pipeline(
    pipe: Any,
    *,
    cudnn_benchmark: bool = False,
    compile: bool = False,
    compile_vae: bool = False,
    fuse_qkv: bool = False,
    channels_last: bool = False,
    compile_mode: str = "default",
) -> list[str]:
    """Apply speed-ups measured in BENCHMARKS.md ("Diffusion engines"); return those applied.

    ``cudnn_benchmark`` lets cuDNN time its conv algorithms once per shape; ``compile`` wraps
    the UNet in ``torch.compile`` and ``compile_vae`` the VAE's decoder (the first call per
    shape compiles, for minutes at full size; later calls are faster). ``fuse_qkv`` (one matmul
    for q/k/v) and ``channels_last`` (NHWC convs) are here because they were measured; on the
    H100 they made SVD slower, so the recommended setting leaves them out.
    """
    applied = []
    if cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
        applied.append("cudnn_benchmark")
    if fuse_qkv and hasattr(pipe.unet, "fuse_qkv_projections"):
        pipe.unet.fuse_qkv_projections()
        applied.append("fuse_qkv")
    if channels_last:
        for model in (pipe.unet, pipe.vae):
            _to_channels_last(model)
        applied.append("channels_last")
    if compile and not hasattr(pipe.unet, "_orig_mod"):
        pipe.unet = torch.compile(pipe.unet, mode=compile_mode)
        applied.append(f"compile({compile_mode})")
    if compile_vae and not hasattr(pipe.vae.decoder, "_orig_mod"):
        # The decoder submodule, not the VAE: pipelines call vae.decode(), which stays as is.
        pipe.vae.decoder = torch.compile(pipe.vae.decoder, mode=compile_mode)
        applied.append(f"compile_vae({compile_mode})")
    return applied


def _to_channels_last(model: torch.nn.Module) -> None:
    # Per layer: video UNets mix 2D and 3D convolutions, and a whole-model
    # .to(memory_format=channels_last) refuses the 5D weights.
    for layer in model.modules():
        if isinstance(layer, torch.nn.Conv2d):
            layer.to(memory_format=torch.channels_last)
        elif isinstance(layer, torch.nn.Conv3d):
            layer.to(memory_format=torch.channels_last_3d)


# --- progress glue ---------------------------------------------------------------------------


def step_end_callback(progress: ProgressCallback, total: int) -> Callable[..., dict]:
    """A ``callback_on_step_end`` reporting ("generating", i + 1, total); it may raise cancel."""

    def on_step_end(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        progress("generating", step + 1, total)
        return callback_kwargs

    return on_step_end


@contextmanager
def reporting_decode(
    vae: Any, progress: ProgressCallback, *, chunks: int, split: int | None = None
) -> Iterator[None]:
    """Wrap ``vae.decode`` for one call of a pipeline: report ("decoding", k, chunks).

    With ``split``, each decode call is cut into batches of ``split`` frames (for pipelines
    that decode all frames at once, like Zeroscope's): lower peak memory and one report per
    batch. Without it, each call the pipeline makes is one chunk (SVD decodes in chunks itself).
    """
    from diffusers.models.autoencoders.vae import DecoderOutput

    had_own = "decode" in vars(vae)
    previous = vars(vae).get("decode")
    original = vae.decode
    done = 0

    def report_one() -> None:
        nonlocal done
        done += 1
        progress("decoding", min(done, chunks), chunks)

    def decode(z, *args, **kwargs):
        if done == 0:
            progress("decoding", 0, chunks)
        if split is None or z.shape[0] <= split:
            out = original(z, *args, **kwargs)
            report_one()
            return out
        return_dict = kwargs.pop("return_dict", True)
        parts = []
        for start in range(0, z.shape[0], split):
            parts.append(original(z[start : start + split], *args, return_dict=False, **kwargs)[0])
            report_one()
        sample = torch.cat(parts)
        return DecoderOutput(sample=sample) if return_dict else (sample,)

    vae.decode = decode
    try:
        yield
    finally:
        if had_own:
            vae.decode = previous
        else:
            del vae.decode


def decode_chunks(num_frames: int, chunk: int) -> int:
    return max(1, math.ceil(num_frames / max(1, chunk)))


# --- memory ----------------------------------------------------------------------------------


def free_memory() -> None:
    gc.collect()
    torch.cuda.empty_cache()  # a no-op where CUDA was never initialised


def call_with_oom_retry(
    attempt: Callable[[bool], T], *, loaded: LoadedPipeline, engine: str, notes: list[str]
) -> T:
    """``attempt(False)``; on CUDA OOM free memory and ``attempt(True)`` (the low-memory way).

    Before the retry, CPU offload is switched on (on CUDA; it stays on for the process). A
    second OOM is an ``EngineError`` telling the user what to change.
    ``GenerationCanceled`` and every other error pass through untouched.
    """
    try:
        return attempt(False)
    except torch.cuda.OutOfMemoryError as exc:
        logger.warning("%s ran out of GPU memory (%s); retrying with less memory", engine, exc)
    free_memory()  # outside the except block: the traceback's tensors are gone by now
    enable_cpu_offload(loaded)
    notes.append(
        f"{engine}: the GPU ran out of memory; retried with one frame per VAE decode"
        + (" and CPU offload" if loaded.offloaded else "")
        + "."
    )
    try:
        return attempt(True)
    except torch.cuda.OutOfMemoryError as exc:
        logger.warning("%s ran out of GPU memory again (%s)", engine, exc)
    free_memory()
    raise EngineError(
        f"The GPU ran out of memory for this {engine} video, even with CPU offload and "
        "frame-by-frame decoding. Try fewer frames or a smaller width and height; "
        "operators can set DIFFUSERS_CPU_OFFLOAD=1 or use a GPU with more memory."
    )


# --- output ----------------------------------------------------------------------------------


def frames_to_uint8(frames: np.ndarray, *, engine: str) -> np.ndarray:
    """The pipeline's float frames in 0..1 (F, H, W, 3) as uint8; NaNs are an EngineError."""
    if not np.isfinite(frames).all():
        raise EngineError(
            f"The {engine} model produced invalid frames (NaN). Operators: try "
            "DIFFUSERS_DTYPE=bfloat16 or float32."
        )
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def check_size(width: int, height: int, *, engine: str, multiple: int = 64) -> None:
    for side, value in (("width", width), ("height", height)):
        if value < multiple or value > 2048 or value % multiple:
            raise EngineError(
                f"The {engine} engine needs a {side} that is a multiple of {multiple} between "
                f"{multiple} and 2048 pixels (got {value})."
            )


def seeded_generator(device: str, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(int(seed) % 2**64)


class DiffusionEngine:
    """The part of an engine that finds, loads and keeps its pipeline.

    Construct with the model (a hub id or a local directory) and an optional device. The
    constructor only checks the settings (no torch work); the pipeline loads on the first
    ``generate`` and is shared through the process-wide cache.
    """

    name = "diffusion"
    setting = "MODEL"
    pipeline_class_name = ""

    def __init__(self, model: str | None = None, device: str | None = None):
        self.model = (model or "").strip()
        check_model_source(
            self.model,
            engine=self.name,
            setting=self.setting,
            pipeline_class=self.pipeline_class_name,
        )
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device)
        self.optimizations = optimizations_from_env()

    def pipeline_class(self) -> Any:
        """The diffusers class named by ``pipeline_class_name`` (imported on first use)."""
        import diffusers

        return getattr(diffusers, self.pipeline_class_name)

    def load(self, progress: ProgressCallback, *, cpu_offload: bool = False) -> LoadedPipeline:
        return load_pipeline(
            self.pipeline_class(),
            model=self.model,
            device=self.device,
            dtype=self.dtype,
            engine=self.name,
            setting=self.setting,
            progress=progress,
            cpu_offload=cpu_offload,
            optimizations=self.optimizations,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, device={self.device!r})"


def wants_cpu_offload(extra: dict | Any) -> bool:
    value = extra.get("cpu_offload") if hasattr(extra, "get") else None
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    return bool(value) or env_flag(ENV_CPU_OFFLOAD)
