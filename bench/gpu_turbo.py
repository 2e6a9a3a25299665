"""SVD turbo (feature reuse) against stock: what one shallow UNet call costs next to a whole one,
on the real SVD-XT architecture, and a whole video on the tiny pipeline (speed and distance).

1. UNet calls (``--arch full``: SVD-XT's published UNet config with random weights; ``tiny``:
   workers/tiny_models.py's): the whole forward and the shallow one (first down block + last up
   block on a kept feature), taking turns, --calls times each, at the latent size of
   --width x --height x --frames with the CFG batch of 2. The ratio gives turbo's expected
   speed-up for the denoising loop at 25 steps (9 whole + 16 shallow calls):
   25 / (9 + 16 x shallow/whole).
2. Videos (tiny pipeline): stock and turbo taking turns, --videos times each, same seed; the
   median s/video of each and the distance of turbo's frames from stock's (mean |Δ| on 0..255,
   PSNR per frame).

    python bench/gpu_turbo.py                               # CPU: both parts, small sizes
    python bench/gpu_turbo.py --arch full --width 256 --height 256 --frames 4
    python bench/gpu_turbo.py --device cuda --arch full --width 1024 --height 576 --frames 25
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
for path in (str(ROOT), str(ROOT / "bench")):
    if path not in sys.path:
        sys.path.insert(0, path)

from workers.engines.turbo import FeatureReuseUNet, feature_reuse, frame_distance  # noqa: E402

WHOLE, SHALLOW = 9, 16  # turbo's calls at 25 steps, interval 3


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def unet_calls(arch: str, *, device: str, width: int, height: int, frames: int, calls: int):
    import gpu_svd
    from diffusers import UNetSpatioTemporalConditionModel

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    if arch == "full":
        unet = UNetSpatioTemporalConditionModel(**gpu_svd.SVD_XT_UNET)
    else:
        from workers.tiny_models import tiny_svd_pipeline

        unet = tiny_svd_pipeline().unet
    unet = unet.to(device=device, dtype=dtype).eval()
    g = torch.Generator().manual_seed(0)
    cfg = unet.config
    sample = torch.randn(2, frames, cfg.in_channels, height // 8, width // 8, generator=g)
    ehs = torch.randn(2, 1, cfg.cross_attention_dim, generator=g)
    ids = torch.tensor([[7.0, 127.0, 0.02]] * 2)
    sample, ehs, ids = (x.to(device=device, dtype=dtype) for x in (sample, ehs, ids))
    t = torch.tensor(10.0, device=device)
    stand_in = FeatureReuseUNet(unet, interval=10**9)
    whole, shallow = [], []
    with torch.no_grad():
        stand_in(sample, t, ehs, ids)  # warm-up, and the kept feature
        stand_in.calls = 1
        for _ in range(calls):
            sync(device)
            t0 = time.perf_counter()
            stand_in._full(sample, t[None], ehs, ids)
            sync(device)
            t1 = time.perf_counter()
            stand_in._shallow(sample, t[None], ehs, ids, stand_in.cached)
            sync(device)
            t2 = time.perf_counter()
            whole.append(t1 - t0)
            shallow.append(t2 - t1)
    w, s = statistics.median(whole), statistics.median(shallow)
    return {
        "arch": arch,
        "latent": [2, frames, cfg.in_channels, height // 8, width // 8],
        "whole_s": round(w, 4),
        "shallow_s": round(s, 4),
        "shallow_over_whole": round(s / w, 4),
        "loop_speedup_at_25_steps": round(25 / (WHOLE + SHALLOW * s / w), 3),
        "calls": calls,
    }


def videos(*, device: str, count: int, steps: int, frames: int, width: int, height: int):
    from PIL import Image

    from workers.tiny_models import tiny_svd_pipeline

    pipe = tiny_svd_pipeline().to(device)
    pipe.set_progress_bar_config(disable=True)
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))

    def run() -> tuple[float, np.ndarray]:
        sync(device)
        t0 = time.perf_counter()
        out = pipe(
            image=image,
            height=height,
            width=width,
            num_frames=frames,
            num_inference_steps=steps,
            decode_chunk_size=frames,
            generator=torch.Generator(device).manual_seed(0),
            output_type="np",
        ).frames[0]
        sync(device)
        return time.perf_counter() - t0, out

    stand_in = FeatureReuseUNet(pipe.unet)
    run()  # warm-up
    stock_s, turbo_s = [], []
    stock = turbo = None
    for _ in range(count):
        s, stock = run()
        with feature_reuse(pipe, unet=stand_in):
            t, turbo = run()
        stock_s.append(s)
        turbo_s.append(t)
    d = frame_distance(turbo, stock)
    return {
        "setting": f"tiny {width}x{height}, {frames} frames, {steps} steps",
        "stock_s": round(statistics.median(stock_s), 3),
        "turbo_s": round(statistics.median(turbo_s), 3),
        "speedup": round(statistics.median(stock_s) / statistics.median(turbo_s), 3),
        "whole_calls": stand_in.stats.full,
        "shallow_calls": stand_in.stats.shallow,
        **d,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="full", choices=["full", "tiny"])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--videos", type=int, default=5, help="0: skip the video part")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    torch.set_grad_enabled(False)
    report = {
        "torch": torch.__version__,
        "device": args.device,
        "unet": unet_calls(
            args.arch,
            device=args.device,
            width=args.width,
            height=args.height,
            frames=args.frames,
            calls=args.calls,
        ),
    }
    print(json.dumps(report["unet"]), flush=True)
    if args.videos:
        report["videos"] = videos(
            device=args.device, count=args.videos, steps=25, frames=5, width=128, height=64
        )
        print(json.dumps(report["videos"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
