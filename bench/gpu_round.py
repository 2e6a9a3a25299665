"""One GPU round: SVD-XT and Zeroscope, stock diffusers vs the compiled variants and SVD's turbo
tier, inside one time budget, ending with ONE markdown table.

Run on a GPU machine through ``bench/gpu_round.sh`` (installs what is missing, keeps the compile
cache between runs); ``--tiny`` (or no GPU) runs the same rows on the tiny pipelines of
workers/tiny_models.py on the CPU, as a check of the script, not a benchmark.

Weights cannot be downloaded on the device machine, so the models are the FULL-size
architectures built from their published configs (bench/gpu_svd.py, bench/gpu_zeroscope.py)
with random weights, fp16: the compute per step is the real models'; the output is noise, so
the distances to stock below measure numerics, not picture quality.

Rows, in priority order (the budget guard skips what no longer fits, never overruns):

  svd-25:*        SVD-XT 1024x576, 25 frames, 25 steps: the published anchor's setting
                  (stock, turbo, the best compiled variant, turbo + compiled, the second start)
  svd-14:*        SVD-XT 1024x576, 14 frames, 10 steps: BENCHMARKS.md's comparison, with the new
                  variants (inductor flags, CUDA graphs) and turbo
  zeroscope-24:*  Zeroscope v2 576w 576x320, 24 frames, 10 steps: likewise

Variants (each row starts from the eager fp16 pipeline; compiled modules are unwrapped and
dynamo reset between rows):

  stock          eager fp16, SDPA; SVD decode_chunk_size=8, Zeroscope's single VAE call
  compiled       torch.compile(UNet) + torch.compile(VAE decoder), mode "default", one decode
                 chunk (BENCHMARKS.md's best: 1.43x / 1.44x on an H100)
  +flags         inductor's coordinate_descent_tuning and conv_1x1_as_mm
  cudagraphs     the UNet compiled with mode "reduce-overhead" (CUDA graphs), + flags
  turbo          SVD feature reuse (workers/engines/turbo.py): the whole UNet every 3 steps
  second-start   a fresh process compiles the best variant again with the same
                 TORCHINDUCTOR_CACHE_DIR: what a restarted worker's warm-up costs

Each row: one first call (timed: it includes compiling), then --repeat timed runs (median).
Every output is checked against its stock row (same seed): shape, NaN, mean |Δ| (0..255) and
PSNR per frame (min / mean dB).

Compile cache: ``torch.compiler.save_cache_artifacts()`` is written to --cache-dir (and
--out) after every compiled row, in parts of at most 15 MiB (the device tool returns files of
at most 16 MiB); at start, parts found in --cache-dir are loaded
(``torch.compiler.load_cache_artifacts``), so a second run compiles from cache.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (str(ROOT), str(BENCH)):
    if path not in sys.path:
        sys.path.insert(0, path)

import gpu_svd  # noqa: E402
import gpu_zeroscope  # noqa: E402

from workers.engines.turbo import FeatureReuseUNet, feature_reuse, frame_distance  # noqa: E402

ARTIFACTS = "compile-artifacts"
PART_BYTES = 15 * 2**20
ZEROSCOPE_PROMPT = "a lighthouse on a cliff at night, waves crashing, cinematic, high quality"


@dataclass(frozen=True)
class Setting:
    model: str  # svd | zeroscope
    frames: int
    steps: int
    width: int
    height: int


@dataclass(frozen=True)
class Variant:
    compile_unet: str | None = None  # torch.compile mode for the UNet
    compile_vae: bool = False
    flags: bool = False
    turbo: bool = False
    decode_all: bool = False
    second_start: bool = False


@dataclass(frozen=True)
class Row:
    group: str  # svd-25, svd-14, zeroscope-24
    name: str
    variant: Variant
    estimate_s: float  # a cold-cache guess at full size, for the budget guard

    @property
    def key(self) -> str:
        return f"{self.group}:{self.name}"


COMPILED = Variant(compile_unet="default", compile_vae=True, decode_all=True)
FLAGS = Variant(compile_unet="default", compile_vae=True, decode_all=True, flags=True)
CUDAGRAPHS = Variant(compile_unet="reduce-overhead", compile_vae=True, decode_all=True, flags=True)
BEST = CUDAGRAPHS  # the candidate for the headline; the table says what each measured

ROWS = [
    Row("svd-25", "stock", Variant(), 60),
    Row("svd-25", "turbo", Variant(turbo=True), 30),
    Row("svd-25", "cudagraphs+flags", BEST, 240),
    Row("svd-25", "turbo+cudagraphs+flags", Variant(**{**asdict(BEST), "turbo": True}), 150),
    Row("svd-25", "second-start", Variant(**{**asdict(BEST), "second_start": True}), 120),
    Row("svd-14", "stock", Variant(), 15),
    Row("svd-14", "turbo", Variant(turbo=True), 10),
    Row("svd-14", "compiled", COMPILED, 200),
    Row("svd-14", "compiled+flags", FLAGS, 200),
    Row("svd-14", "cudagraphs+flags", CUDAGRAPHS, 200),
    Row("zeroscope-24", "stock", Variant(), 15),
    Row("zeroscope-24", "compiled", COMPILED, 180),
    Row("zeroscope-24", "compiled+flags", FLAGS, 180),
    Row("zeroscope-24", "cudagraphs+flags", CUDAGRAPHS, 180),
]
FULL = {
    "svd-25": Setting("svd", 25, 25, 1024, 576),
    "svd-14": Setting("svd", 14, 10, 1024, 576),
    "zeroscope-24": Setting("zeroscope", 24, 10, 576, 320),
}
TINY = {
    "svd-25": Setting("svd", 5, 25, 128, 64),  # 25 steps: turbo's schedule as at full size
    "svd-14": Setting("svd", 4, 3, 128, 64),
    "zeroscope-24": Setting("zeroscope", 4, 3, 128, 64),
}


@dataclass
class Result:
    key: str
    setting: str
    status: str = "ok"  # ok | failed | skipped
    s_per_video: float | None = None
    s_per_step: float | None = None
    first_call_s: float | None = None
    peak_vram_gib: float | None = None
    runs: list[float] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)
    nan: bool | None = None
    speedup: float | None = None
    mean_abs_diff: float | None = None
    psnr_min_db: float | None = None
    psnr_mean_db: float | None = None
    note: str = ""


# --- the compile cache (bytes between runs) ----------------------------------------------------


def load_artifacts(cache_dir: Path | None) -> int:
    """Load the parts in ``cache_dir``; return the bytes loaded (0 when none or refused)."""
    if cache_dir is None:
        return 0
    parts = sorted(cache_dir.glob(f"{ARTIFACTS}.*.bin"))
    if not parts:
        return 0
    blob = b"".join(p.read_bytes() for p in parts)
    try:
        torch.compiler.load_cache_artifacts(blob)
    except Exception as exc:  # another torch version's cache, say: compile from scratch
        print(f"[cache] not loaded ({type(exc).__name__}: {exc})", flush=True)
        return 0
    print(f"[cache] loaded {len(blob) / 2**20:.1f} MiB of compile artifacts", flush=True)
    return len(blob)


def save_artifacts(*dirs: Path | None, floor: int = 0) -> int:
    """Write this process's compile artifacts to each of ``dirs``; return the bytes written.

    ``floor``: the size loaded at start. A smaller blob (a run whose compiles all came from the
    cache may record less than it loaded) is not written, so the fuller cache is kept.
    """
    saved = torch.compiler.save_cache_artifacts()
    if not saved or len(saved[0]) < floor:
        return 0
    blob = saved[0]
    for directory in (d for d in dirs if d is not None):
        _write_parts(directory, blob)
    return len(blob)


def _write_parts(directory: Path, blob: bytes) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(f"{ARTIFACTS}.*.bin"):
        old.unlink()
    for i in range(0, len(blob), PART_BYTES):
        (directory / f"{ARTIFACTS}.{i // PART_BYTES:03d}.bin").write_bytes(blob[i : i + PART_BYTES])


# --- pipelines, variants, calls ------------------------------------------------------------------


def build(model: str, *, tiny: bool, device: str, dtype: torch.dtype):
    module = gpu_svd if model == "svd" else gpu_zeroscope
    pipe = (module.build_tiny if tiny else module.build_full)(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def reset(pipe) -> None:
    """Back to the eager pipeline and inductor's default flags."""
    import torch._inductor.config as inductor

    pipe.unet = getattr(pipe.unet, "_orig_mod", pipe.unet)
    pipe.vae.decoder = getattr(pipe.vae.decoder, "_orig_mod", pipe.vae.decoder)
    inductor.coordinate_descent_tuning = False
    inductor.conv_1x1_as_mm = False
    torch._dynamo.reset()


def apply(pipe, variant: Variant, *, backend: str):
    """Set ``variant`` up on ``pipe``; return the turbo stand-in (or None)."""
    import torch._inductor.config as inductor

    if variant.flags:
        inductor.coordinate_descent_tuning = True
        inductor.conv_1x1_as_mm = True

    def compiled(fn, mode):
        if backend != "inductor":  # the CPU check: dynamo traces, no kernels are generated
            return torch.compile(fn, backend=backend)
        return torch.compile(fn, mode=mode)

    stand_in = None
    if variant.turbo:
        stand_in = FeatureReuseUNet(pipe.unet)
        if variant.compile_unet:
            stand_in._full = compiled(stand_in._full_forward, variant.compile_unet)
            stand_in._shallow = compiled(stand_in._shallow_forward, variant.compile_unet)
            # A CUDA graph's outputs are overwritten by its next replay: keep a copy.
            stand_in.clone_cached = variant.compile_unet == "reduce-overhead"
    elif variant.compile_unet:
        pipe.unet = compiled(pipe.unet, variant.compile_unet)
    if variant.compile_vae:
        pipe.vae.decoder = compiled(pipe.vae.decoder, "default")
    return stand_in


def make_call(pipe, setting: Setting, variant: Variant, stand_in, device: str):
    """fn(on_step_end) → frames (numpy, 0..1), one video at ``setting``."""
    cudagraphs = variant.compile_unet == "reduce-overhead" and device.startswith("cuda")

    def mark_step(*_):
        if cudagraphs:  # each denoising step is a new CUDA-graph replay
            torch.compiler.cudagraph_mark_step_begin()

    if setting.model == "svd":
        image = _still(setting.width, setting.height)

        def call(on_step_end):
            def step_end(p, i, t, kwargs):
                mark_step()
                return on_step_end(p, i, t, kwargs)

            reuse = feature_reuse(pipe, unet=stand_in) if stand_in else contextlib.nullcontext()
            with reuse:
                mark_step()
                return pipe(
                    image=image,
                    height=setting.height,
                    width=setting.width,
                    num_frames=setting.frames,
                    num_inference_steps=setting.steps,
                    min_guidance_scale=1.0,
                    max_guidance_scale=3.0,
                    fps=7,
                    motion_bucket_id=127,
                    noise_aug_strength=0.02,
                    decode_chunk_size=setting.frames if variant.decode_all else 8,
                    generator=torch.Generator(device).manual_seed(0),
                    output_type="np",
                    callback_on_step_end=step_end,
                    callback_on_step_end_tensor_inputs=["latents"],
                ).frames

        return call

    def call(on_step_end):
        def callback(i, t, latents):
            mark_step()
            on_step_end(pipe, i, t, {})

        mark_step()
        return pipe(
            prompt=ZEROSCOPE_PROMPT,
            height=setting.height,
            width=setting.width,
            num_frames=setting.frames,
            num_inference_steps=setting.steps,
            guidance_scale=9.0,
            generator=torch.Generator(device).manual_seed(0),
            output_type="np",
            callback=callback,
            callback_steps=1,
        ).frames

    return call


def _still(width: int, height: int):
    from PIL import Image

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([255 * xs / width, 255 * ys / height, 128 + 127 * np.sin(xs / 17.0)], axis=-1)
    return Image.fromarray(rgb.astype(np.uint8))


# --- measuring -----------------------------------------------------------------------------------


def measure(pipe, call, *, device: str, repeat: int) -> tuple[dict, np.ndarray]:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    first, _, _, frames = gpu_svd.timed_run(pipe, call, device)
    runs, steps = [], []
    for _ in range(repeat):
        total, per_step, _, frames = gpu_svd.timed_run(pipe, call, device)
        runs.append(total)
        steps.append(per_step)
    frames = np.asarray(frames)[0]
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    return {
        "first_call_s": round(first, 2),
        "s_per_video": round(statistics.median(runs), 3),
        "s_per_step": round(statistics.median(steps), 4),
        "runs": [round(r, 3) for r in runs],
        "peak_vram_gib": round(peak, 2),
        "shape": list(frames.shape),
        "nan": bool(np.isnan(frames).any()),
    }, frames


def second_start(row: Row, setting: Setting, args, device: str) -> dict:
    """A fresh process compiles ``row``'s variant with this run's TORCHINDUCTOR_CACHE_DIR."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        row.group,
        "--device",
        device,
        "--compile-backend",
        args.compile_backend,
        "--repeat",
        "0",
    ] + (["--tiny"] if args.tiny else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=args.budget_s + 60)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"the second-start process failed: {done.stderr.strip()[-400:]}")
    return json.loads(lines[-1])


def child_main(args) -> int:
    """--child GROUP: build, set the best variant up, time its first call; print JSON."""
    tiny, device = args.tiny, args.device
    settings = TINY if tiny else FULL
    setting = settings[args.child]
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipe = build(setting.model, tiny=tiny, device=device, dtype=dtype)
    variant = Variant(**{**asdict(BEST), "second_start": False})
    stand_in = apply(pipe, variant, backend=args.compile_backend)
    call = make_call(pipe, setting, variant, stand_in, device)
    first, _, _, _ = gpu_svd.timed_run(pipe, call, device)
    print(json.dumps({"first_call_s": round(first, 2)}), flush=True)
    return 0


# --- the table -----------------------------------------------------------------------------------


def environment(device: str) -> dict:
    env = gpu_svd.environment(device)
    env["driver"] = "-"
    if device.startswith("cuda"):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                capture_output=True,
                text=True,
                timeout=20,
            ).stdout.strip()
            env["driver"] = out.splitlines()[0] if out else "-"
    else:
        import platform

        env["gpu"] = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    return env


def _fmt(value, spec: str = "", unit: str = "") -> str:
    if value is None:
        return "–"
    return f"{value:{spec}}{unit}"


def table(results: list[Result], env: dict, *, tiny: bool, cache_loaded: int) -> str:
    lines = [
        f"### GPU round: {env.get('gpu', env['device'])}, driver {env['driver']}, "
        f"CUDA {env.get('cuda', '-')}, torch {env['torch']}, diffusers {env['diffusers']}, "
        f"transformers {env['transformers']}, Python {env['python']}"
        + (" — TINY pipelines (a check of the script; timings mean nothing)" if tiny else ""),
        "",
        f"Compile cache at start: {f'{cache_loaded / 2**20:.1f} MiB loaded' if cache_loaded else 'none (cold)'}.",
        "",
        "| row | setting | s/video | s/step | first call s | peak GiB | vs stock | NaN "
        "| mean \\|Δ\\| vs stock | PSNR min / mean dB | note |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- |",
    ]
    for r in results:
        if r.status != "ok":
            lines.append(
                f"| {r.key} | {r.setting} | – | – | – | – | – | – | – | – | {r.status}: {r.note} |"
            )
            continue
        psnr = (
            "–"
            if r.psnr_min_db is None
            else f"{_fmt(r.psnr_min_db, '.1f')} / {_fmt(r.psnr_mean_db, '.1f')}"
        )
        lines.append(
            f"| {r.key} | {r.setting} | {_fmt(r.s_per_video, '.3f')} | {_fmt(r.s_per_step, '.4f')} "
            f"| {_fmt(r.first_call_s, '.1f')} | {_fmt(r.peak_vram_gib, '.1f')} "
            f"| {_fmt(r.speedup, '.2f', '×')} | {'–' if r.nan is None else ('yes' if r.nan else 'no')} "
            f"| {_fmt(r.mean_abs_diff, '.2f')} | {psnr} | {r.note} |"
        )
    return "\n".join(lines)


# --- the round -----------------------------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny pipelines (a CPU check)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--rows", default="*", help="comma list of row globs, e.g. 'svd-25:*'")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--budget-s", type=float, default=400, help="no row starts past this")
    parser.add_argument(
        "--hard-limit-s",
        type=float,
        default=None,
        help="print the table and exit at this point even mid-row (default: budget + 60)",
    )
    parser.add_argument(
        "--compile-backend",
        default="inductor",
        help="inductor (real compiles); 'eager' traces with dynamo only (the quick CPU check)",
    )
    parser.add_argument("--cache-dir", default=None, help="compile artifacts: load, then save")
    parser.add_argument("--out", default=None, help="write round.json, round.md, artifacts here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if not args.device.startswith("cuda") and not args.tiny:
        print("No CUDA GPU: running the tiny pipelines on the CPU (a check, not a benchmark).")
        args.tiny = True
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    started = time.monotonic()
    device, tiny = args.device, args.tiny
    out = Path(args.out) if args.out else None
    cache_dir = Path(args.cache_dir) if args.cache_dir else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    env = environment(device)
    print(json.dumps(env), flush=True)
    cache_loaded = load_artifacts(cache_dir)
    if cache_loaded and out and cache_dir and out.resolve() != cache_dir.resolve():
        # What comes back holds the cache even if this run compiles nothing new.
        parts = sorted(cache_dir.glob(f"{ARTIFACTS}.*.bin"))
        _write_parts(out, b"".join(p.read_bytes() for p in parts))
    settings = TINY if tiny else FULL
    patterns = [p.strip() for p in args.rows.split(",") if p.strip()]
    rows = [r for r in ROWS if any(fnmatch.fnmatch(r.key, p) for p in patterns)]
    results: list[Result] = []
    printed = threading.Event()

    def finish() -> str:
        text = table(results, env, tiny=tiny, cache_loaded=cache_loaded)
        if out:
            (out / "round.md").write_text(text + "\n")
            (out / "round.json").write_text(
                json.dumps(
                    {"env": env, "tiny": tiny, "results": [asdict(r) for r in results]}, indent=2
                )
            )
        return text

    def hard_stop() -> None:  # a row that overruns everything: the table still comes out
        if printed.is_set():
            return
        for row in rows[len(results) :]:
            results.append(
                Result(
                    row.key, _setting_text(settings[row.group]), "skipped", note="hard time limit"
                )
            )
        print("\n[budget] hard time limit reached mid-row; the table so far:\n", flush=True)
        print(finish(), flush=True)
        os._exit(3)

    hard = args.hard_limit_s if args.hard_limit_s is not None else args.budget_s + 60
    timer = threading.Timer(max(1.0, hard - (time.monotonic() - started)), hard_stop)
    timer.daemon = True
    timer.start()

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    pipes: dict[str, Any] = {}
    stock: dict[str, tuple[np.ndarray, float]] = {}
    first_start: dict[str, float] = {}
    scale = 0.02 if tiny else 1.0  # the tiny rows take a fraction of the full ones' time
    for row in rows:
        setting = settings[row.group]
        result = Result(row.key, _setting_text(setting))
        used = time.monotonic() - started
        if used + row.estimate_s * scale > args.budget_s:
            result.status, result.note = (
                "skipped",
                f"budget ({used:.0f} s used, ~{row.estimate_s:.0f} s needed)",
            )
            results.append(result)
            print(f"[budget] skipping {row.key}: {result.note}", flush=True)
            continue
        try:
            if row.variant.second_start:
                child = second_start(row, setting, args, device)
                result.first_call_s = child["first_call_s"]
                before = first_start.get(row.group)
                result.note = (
                    f"fresh process, same inductor cache: first call {child['first_call_s']:.1f} s"
                    + (f" (first start: {before:.1f} s)" if before is not None else "")
                )
                results.append(result)
                print(f"[{row.key}] {result.note}", flush=True)
                continue
            if setting.model not in pipes:
                t0 = time.perf_counter()
                pipes[setting.model] = build(setting.model, tiny=tiny, device=device, dtype=dtype)
                print(f"[{setting.model}] built in {time.perf_counter() - t0:.1f}s", flush=True)
            pipe = pipes[setting.model]
            reset(pipe)
            stand_in = apply(pipe, row.variant, backend=args.compile_backend)
            call = make_call(pipe, setting, row.variant, stand_in, device)
            figures, frames = measure(pipe, call, device=device, repeat=max(1, args.repeat))
        except Exception as exc:  # a row that fails is reported; the others still run
            result.status, result.note = "failed", f"{type(exc).__name__}: {str(exc)[:200]}"
            results.append(result)
            print(f"[{row.key}] failed: {result.note}", flush=True)
            continue
        for name, value in figures.items():
            setattr(result, name, value)
        if row.variant == BEST:
            first_start[row.group] = figures["first_call_s"]
        if row.name == "stock":
            stock[row.group] = (frames, figures["s_per_video"])
        elif row.group in stock:
            reference, stock_s = stock[row.group]
            result.speedup = round(stock_s / figures["s_per_video"], 3)
            if reference.shape == frames.shape:
                d = frame_distance(frames, reference)
                result.mean_abs_diff = d["mean_abs_diff_mean"]
                result.psnr_min_db, result.psnr_mean_db = d["psnr_db_min"], d["psnr_db_mean"]
            else:
                result.note = f"shape {list(frames.shape)} ≠ stock {list(reference.shape)}"
        if stand_in is not None:
            result.note = (result.note + " " if result.note else "") + (
                f"UNet whole {stand_in.stats.full}×, reused {stand_in.stats.shallow}× per video"
            )
        if row.variant.compile_unet:
            saved = save_artifacts(cache_dir, out, floor=cache_loaded)
            if saved:
                print(f"[cache] saved {saved / 2**20:.1f} MiB of compile artifacts", flush=True)
        results.append(result)
        print(f"[{row.key}] {json.dumps(figures)}", flush=True)
    timer.cancel()
    printed.set()
    text = finish()
    print("\n" + text, flush=True)
    measured = [r for r in results if r.status == "ok" and r.nan is not None]
    return 0 if measured and not any(r.nan for r in measured) else 1


def _setting_text(s: Setting) -> str:
    return f"{s.width}×{s.height}, {s.frames} frames, {s.steps} steps"


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
