"""Stable Video Diffusion XT on one GPU: stock diffusers defaults vs the worker's optimised path.

Weights cannot be downloaded here, so the FULL-size SVD-XT architecture is built from its
published configs (below) with random weights, on the GPU, cast to fp16. The compute per
step is the same as with the real weights. One run times, on the same pipeline and GPU, these
variants (--variants; cumulative, each adds to the one before):

  stock          fp16, SDPA attention (diffusers' default on torch 2), decode_chunk_size=8
  chunk=all      the VAE decodes all frames in one call
  cudnn          + torch.backends.cudnn.benchmark
  compile-unet   + torch.compile(UNet) (--compile-mode, default "default")
  compile-vae    + torch.compile(VAE decoder)
  also: nhwc (fused QKV + channels_last), bf16, cudnn-attn (SDPA tries cuDNN attention first)

The default list is the worker's recommended path (DIFFUSERS_OPTIMIZE=cudnn_benchmark,compile,
compile_vae); on a CPU the default is a quick smoke list without compiles.

Each variant: one untimed warm-up run, then --repeat timed runs; the median is reported as
s/video, with s/step (the denoising loop, from the step callback, synchronised) and peak VRAM.
Every output is checked: same shape as stock, no NaN; the mean |difference| to stock (0..255)
is printed as a sanity check (SVD's temporal VAE mixes the frames of a decode chunk, so another
chunk size changes its output; compiling only moves fp16 rounding).

    python bench/gpu_svd.py                      # full size on CUDA (tiny on CPU if no GPU)
    python bench/gpu_svd.py --tiny               # tiny configs, any device (a smoke test)
    python bench/gpu_svd.py --frames 14 --steps 10 --repeat 2 --json out.json
    python bench/gpu_svd.py --variants stock,nhwc,bf16     # any names above, in order

The results and method are in BENCHMARKS.md ("Diffusion engines").
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workers.engines.diffusion import optimize_pipeline  # noqa: E402

# --- the published configs of stabilityai/stable-video-diffusion-img2vid-xt ------------------

SVD_XT_UNET = {
    "sample_size": 96,
    "in_channels": 8,
    "out_channels": 4,
    "down_block_types": [
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "CrossAttnDownBlockSpatioTemporal",
        "DownBlockSpatioTemporal",
    ],
    "up_block_types": [
        "UpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
        "CrossAttnUpBlockSpatioTemporal",
    ],
    "block_out_channels": [320, 640, 1280, 1280],
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 768,
    "layers_per_block": 2,
    "cross_attention_dim": 1024,
    "transformer_layers_per_block": 1,
    "num_attention_heads": [5, 10, 20, 20],
    "num_frames": 25,
}
SVD_XT_VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 4,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "force_upcast": True,
}
SVD_XT_IMAGE_ENCODER = {  # CLIP ViT-H/14 vision tower with projection
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "projection_dim": 1024,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
SVD_XT_SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sigma_max": 700.0,
    "sigma_min": 0.002,
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "timestep_type": "continuous",
    "use_karras_sigmas": True,
}


def build_full(device: str, dtype: torch.dtype):
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    with torch.device(device):
        unet = UNetSpatioTemporalConditionModel(**SVD_XT_UNET).to(dtype)
        vae = AutoencoderKLTemporalDecoder(**SVD_XT_VAE).to(dtype)
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**SVD_XT_IMAGE_ENCODER)).to(
            dtype
        )
    pipe = StableVideoDiffusionPipeline(
        vae=vae,
        image_encoder=image_encoder,
        unet=unet,
        scheduler=EulerDiscreteScheduler(**SVD_XT_SCHEDULER),
        feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )
    return pipe.to(device)


def build_tiny(device: str, dtype: torch.dtype):
    from workers.tiny_models import tiny_svd_pipeline

    return tiny_svd_pipeline().to(device=device, dtype=dtype)


# --- the harness (gpu_zeroscope.py uses it too) -----------------------------------------------


@dataclass
class Result:
    variant: str
    s_per_video: float
    s_per_step: float
    decode_s: float
    peak_vram_gib: float
    runs: list[float]
    warmup_s: float
    shape: list[int]
    nan: bool
    mean_abs_diff_vs_stock: float | None = None
    speedup: float | None = None
    notes: list[str] = field(default_factory=list)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed_run(pipe, call: Callable[[Any], Any], device: str) -> tuple[float, float, float, Any]:
    """One video: (total s, s/step, decode s, frames)."""
    marks: list[float] = []

    def on_step_end(p, i, t, kwargs):
        sync(device)
        marks.append(time.perf_counter())
        return kwargs

    sync(device)
    start = time.perf_counter()
    frames = call(on_step_end)
    sync(device)
    end = time.perf_counter()
    steps = len(marks)
    if steps >= 2:
        per_step = (marks[-1] - marks[0]) / (steps - 1)
    else:
        per_step = (marks[-1] - start) if marks else float("nan")
    decode = end - marks[-1] if marks else float("nan")
    return end - start, per_step, decode, frames


def measure(
    name: str, pipe, call, *, device: str, repeat: int, stock: np.ndarray | None
) -> tuple[Result, np.ndarray]:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    warm, _, _, frames = timed_run(pipe, call, device)
    runs, steps, decodes = [], [], []
    for _ in range(repeat):
        total, per_step, decode, frames = timed_run(pipe, call, device)
        runs.append(total)
        steps.append(per_step)
        decodes.append(decode)
    frames = np.asarray(frames)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    diff = None
    if stock is not None and stock.shape == frames.shape:
        diff = float(np.abs(frames.astype(np.float64) - stock.astype(np.float64)).mean() * 255)
    result = Result(
        variant=name,
        s_per_video=statistics.median(runs),
        s_per_step=statistics.median(steps),
        decode_s=statistics.median(decodes),
        peak_vram_gib=round(peak, 2),
        runs=[round(r, 3) for r in runs],
        warmup_s=round(warm, 2),
        shape=list(frames.shape),
        nan=bool(np.isnan(frames).any()),
        mean_abs_diff_vs_stock=diff,
    )
    return result, frames


def attention_backends(options: dict):
    """SDPA with cuDNN's attention tried first (``cudnn-attn``), else torch's default order."""
    if not options.get("cudnn_attention"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    order = [
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
        SDPBackend.MATH,
    ]
    return sdpa_kernel(order, set_priority=True)


def environment(device: str) -> dict:
    import diffusers
    import transformers

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "device": device,
    }
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def report(title: str, results: list[Result], env: dict, json_path: str | None) -> None:
    stock = results[0].s_per_video if results else float("nan")
    for r in results:
        r.speedup = round(stock / r.s_per_video, 3) if r.s_per_video else None
    print(f"\n{title} — {env.get('gpu', env['device'])}, torch {env['torch']}")
    header = (
        f"{'variant':<28} {'s/video':>8} {'s/step':>8} {'decode s':>9} {'peak GiB':>9} "
        f"{'speed-up':>8} {'NaN':>4} {'|Δ| vs stock':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        diff = "-" if r.mean_abs_diff_vs_stock is None else f"{r.mean_abs_diff_vs_stock:.2f}"
        print(
            f"{r.variant:<28} {r.s_per_video:>8.3f} {r.s_per_step:>8.4f} {r.decode_s:>9.3f} "
            f"{r.peak_vram_gib:>9.2f} {r.speedup:>7.2f}x {'yes' if r.nan else 'no':>4} "
            f"{diff:>13}"
        )
    if json_path:
        Path(json_path).write_text(
            json.dumps({"env": env, "results": [asdict(r) for r in results]}, indent=2)
        )


def run_variants(
    pipe,
    make_call: Callable[[dict], Callable[[Any], Any]],
    *,
    device: str,
    repeat: int,
    variants: list[tuple[str, Callable[[Any], dict]]],
    budget_s: float,
    json_path: str | None,
    title: str,
    env: dict,
) -> list[Result]:
    """Apply each variant's setup (cumulative), measure it; stop when the budget runs out."""
    results: list[Result] = []
    stock_frames = None
    started = time.monotonic()
    options: dict = {}
    for name, setup in variants:
        if results and time.monotonic() - started > budget_s:
            print(f"[budget] skipping {name}: {time.monotonic() - started:.0f}s used", flush=True)
            continue
        t0 = time.perf_counter()
        options = {**options, **(setup(pipe) or {})}
        setup_s = time.perf_counter() - t0
        try:
            result, frames = measure(
                name,
                pipe,
                make_call(options),
                device=device,
                repeat=repeat,
                stock=stock_frames,
            )
        except Exception as exc:  # a variant that fails is reported, the others still run
            print(f"[{name}] failed: {type(exc).__name__}: {exc}", flush=True)
            continue
        if setup_s > 1:
            result.notes.append(f"setup {setup_s:.1f}s")
        if stock_frames is None:
            stock_frames = frames
        results.append(result)
        print(
            f"[{name}] {result.s_per_video:.3f} s/video, {result.s_per_step:.4f} s/step, "
            f"peak {result.peak_vram_gib} GiB, warm-up {result.warmup_s}s, nan={result.nan}",
            flush=True,
        )
        report(title, results, env, json_path)  # keep what we have if a later variant dies
    return results


@dataclass
class Bench:
    """One benchmark run's settings and its pipeline (see `bench_setup`)."""

    args: argparse.Namespace
    device: str
    tiny: bool
    frames: int
    steps: int
    width: int
    height: int
    env: dict
    pipe: Any

    def standard_variants(self) -> list[tuple[str, Callable[[Any], dict]]]:
        return standard_variants(
            self.device,
            decode_all=self.frames,
            compile_mode=self.args.compile_mode,
            names=self.args.variants or (TINY_VARIANTS if self.tiny else DEFAULT_VARIANTS),
        )

    def run(self, make_call, variants, *, model: str) -> int:
        """Time the variants; exit status 0 when every output is NaN-free."""
        results = run_variants(
            self.pipe,
            make_call,
            device=self.device,
            repeat=self.args.repeat,
            variants=variants,
            budget_s=self.args.budget_s,
            json_path=self.args.json,
            title=f"{model} {'tiny' if self.tiny else 'full'} {self.width}x{self.height}, "
            f"{self.frames} frames, {self.steps} steps",
            env=self.env,
        )
        return 0 if results and not any(r.nan for r in results) else 1


def bench_setup(
    argv: list[str] | None, *, description: str, full: dict, build_full, build_tiny
) -> Bench:
    """Parse the common options, pick the device and sizes (`full`: frames, steps, width and
    height at full size; tiny configs on a CPU) and build the pipeline."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--tiny", action="store_true", help="tiny configs (CPU smoke test)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--variants", default=None, help=VARIANT_HELP)
    parser.add_argument("--compile-mode", default="default", help="torch.compile mode")
    parser.add_argument("--budget-s", type=float, default=480, help="skip variants after this")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    tiny = args.tiny or not device.startswith("cuda")
    if tiny and not args.tiny:
        print("No CUDA GPU: running the tiny configs on the CPU (a smoke test, not a benchmark).")
    sizes = {
        name: getattr(args, name) or (TINY_SIZE[name] if tiny else full[name])
        for name in ("frames", "steps", "width", "height")
    }
    dtype = torch.float16 if device.startswith("cuda") else torch.float32

    env = environment(device)
    env.update(**sizes, tiny=tiny)
    print(json.dumps(env), flush=True)
    t0 = time.perf_counter()
    pipe = (build_tiny if tiny else build_full)(device, dtype)
    pipe.set_progress_bar_config(disable=True)
    print(f"built in {time.perf_counter() - t0:.1f}s", flush=True)
    return Bench(args=args, device=device, tiny=tiny, env=env, pipe=pipe, **sizes)


TINY_SIZE = {"frames": 4, "steps": 2, "width": 128, "height": 64}


# --- SVD ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    bench = bench_setup(
        argv,
        description=__doc__.splitlines()[0],
        full={"frames": 14, "steps": 10, "width": 1024, "height": 576},
        build_full=build_full,
        build_tiny=build_tiny,
    )
    frames, steps, width, height = bench.frames, bench.steps, bench.width, bench.height
    device, pipe = bench.device, bench.pipe

    from PIL import Image

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack(
        [255 * xs / width, 255 * ys / height, 128 + 127 * np.sin(xs / 17.0)], axis=-1
    ).astype(np.uint8)
    image = Image.fromarray(rgb)

    def make_call(options: dict):
        def call(on_step_end):
            with attention_backends(options):
                return run(on_step_end)

        def run(on_step_end):
            return pipe(
                image=image,
                height=height,
                width=width,
                num_frames=frames,
                num_inference_steps=steps,
                sigmas=None,
                min_guidance_scale=1.0,
                max_guidance_scale=3.0,
                fps=7,
                motion_bucket_id=127,
                noise_aug_strength=0.02,
                decode_chunk_size=options.get("decode_chunk_size", 8),
                num_videos_per_prompt=1,
                generator=torch.Generator(device).manual_seed(0),
                latents=None,
                output_type="np",
                callback_on_step_end=on_step_end,
                callback_on_step_end_tensor_inputs=["latents"],
                return_dict=True,
            ).frames

        return call

    return bench.run(make_call, bench.standard_variants(), model="SVD-XT")


VARIANT_HELP = """stock: fp16, SDPA, the pipeline's default decode chunking;
chunk=all: the VAE decodes all frames per call; cudnn: cudnn.benchmark; nhwc: fused QKV +
channels_last; bf16: bfloat16 (compile-unet returns to fp16); compile-unet: torch.compile(UNet);
compile-vae: torch.compile(VAE decoder); cudnn-attn: SDPA tries cuDNN attention first.
Variants are cumulative, in the order given."""
DEFAULT_VARIANTS = "stock,chunk=all,cudnn,compile-unet,compile-vae"
# On a CPU (make bench, no GPU) a smoke test without the minute-long CPU compiles.
TINY_VARIANTS = "stock,chunk=all,nhwc"


def standard_variants(
    device: str, *, decode_all: int | None, compile_mode: str, names: str = DEFAULT_VARIANTS
) -> list[tuple[str, Callable[[Any], dict]]]:
    """The named variants, cumulative, in the order asked for."""
    cuda = device.startswith("cuda")
    base_dtype = torch.float16 if cuda else torch.float32

    def stock(pipe):
        torch.backends.cudnn.benchmark = False
        return {}

    def chunk_all(pipe):
        return {"decode_chunk_size": decode_all}

    def cudnn(pipe):
        optimize_pipeline(pipe, cudnn_benchmark=True)
        return {}

    def nhwc(pipe):
        optimize_pipeline(pipe, fuse_qkv=True, channels_last=True)
        return {}

    def bf16(pipe):
        pipe.to(dtype=torch.bfloat16)
        return {}

    def compile_unet(pipe):
        pipe.to(dtype=base_dtype)
        optimize_pipeline(pipe, compile=True, compile_mode=compile_mode)
        return {}

    def cudnn_attention(pipe):
        return {"cudnn_attention": True}

    def compile_vae(pipe):
        optimize_pipeline(pipe, compile_vae=True, compile_mode=compile_mode)
        return {}

    table = {
        "stock": ("stock", stock),
        "chunk=all": ("decode chunk=all", chunk_all),
        "cudnn": ("+ cudnn.benchmark", cudnn),
        "nhwc": ("+ fused QKV, NHWC", nhwc),
        "bf16": ("+ bf16", bf16),
        "compile-unet": (f"+ compile UNet ({compile_mode})", compile_unet),
        "compile-vae": (f"+ compile VAE ({compile_mode})", compile_vae),
        "cudnn-attn": ("+ cuDNN attention first", cudnn_attention),
    }
    chosen = []
    for name in (n.strip() for n in names.split(",") if n.strip()):
        if name not in table:
            raise SystemExit(f"unknown variant {name!r}; known: {', '.join(table)}")
        if name == "chunk=all" and not decode_all:
            continue
        if name == "bf16" and not cuda:
            continue
        chosen.append(table[name])
    return chosen


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
