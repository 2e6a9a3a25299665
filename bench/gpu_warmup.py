"""A worker's warm-up (DIFFUSERS_WARMUP) on its first start and on a restart: the same code a
Celery worker runs (workers/warmup.py through the engine registry), each start a fresh process,
both sharing one fresh TORCHINDUCTOR_CACHE_DIR, as a worker's volume would.

    python bench/gpu_warmup.py                       # tiny models on the CPU (or --tiny)
    python bench/gpu_warmup.py --full --spec svd:1024x576x25     # GPU: full-size random models
    python bench/gpu_warmup.py --optimize compile,compile_vae --starts 3 --json out.json

The first start compiles (``--optimize``, default ``compile,compile_vae``); later starts find
the compiled kernels in the cache dir (inductor's FX graph and autotuning caches). Each line is
one start's warm-up, measured inside the process (model load + compile + a WARMUP_STEPS run);
the process start and the imports are reported apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def child(spec: str, models: dict[str, str]) -> None:
    t0 = time.perf_counter()
    from workers.engines import get_engine
    from workers.warmup import parse_warmup, warm_up

    imported = time.perf_counter() - t0
    results = warm_up(
        parse_warmup(spec), engine_for=lambda name: get_engine(name, model=models[name])
    )
    print(
        json.dumps(
            {
                "imports_s": round(imported, 2),
                "sizes": {str(r.size): round(r.seconds, 2) for r in results},
                "errors": [r.error for r in results if r.error],
                "total_s": round(sum(r.seconds for r in results), 2),
            }
        ),
        flush=True,
    )


def write_models(folder: Path, *, full: bool) -> dict[str, str]:
    if not full:
        from workers.tiny_models import write_tiny_models

        return {k: str(v) for k, v in write_tiny_models(folder).items()}
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    import gpu_svd
    import gpu_zeroscope

    paths = {"svd": folder / "svd", "zeroscope": folder / "zeroscope"}
    for name, module in (("svd", gpu_svd), ("zeroscope", gpu_zeroscope)):
        pipe = module.build_full("cuda", torch.float16)
        pipe.save_pretrained(paths[name], variant="fp16")
        del pipe
    return {k: str(v) for k, v in paths.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="full-size random models (GPU)")
    parser.add_argument("--tiny", action="store_true", help="tiny models (the default)")
    parser.add_argument("--spec", default=None, help="DIFFUSERS_WARMUP value")
    parser.add_argument("--optimize", default="compile,compile_vae", help="DIFFUSERS_OPTIMIZE")
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--models", default=None, help="a folder with svd/ and zeroscope/")
    parser.add_argument("--json", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-models", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, json.loads(args.child_models))
        return 0
    spec = args.spec or ("svd:1024x576x25" if args.full else "svd:128x64x4,zeroscope:128x64x4")
    with tempfile.TemporaryDirectory(prefix="warmup-bench-") as tmp:
        tmp = Path(tmp)
        models = (
            {n: str(Path(args.models) / n) for n in ("svd", "zeroscope")}
            if args.models
            else write_models(tmp / "models", full=args.full)
        )
        env = {
            **os.environ,
            "DIFFUSERS_OPTIMIZE": args.optimize,
            "TORCHINDUCTOR_CACHE_DIR": str(tmp / "inductor"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "TOKENIZERS_PARALLELISM": "false",
        }
        starts = []
        for i in range(args.starts):
            began = time.perf_counter()
            done = subprocess.run(
                [sys.executable, __file__, "--child", spec, "--child-models", json.dumps(models)],
                env=env,
                capture_output=True,
                text=True,
            )
            wall = time.perf_counter() - began
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            if done.returncode or not lines:
                print(done.stderr[-2000:], file=sys.stderr)
                return 1
            start = {"start": i + 1, "process_wall_s": round(wall, 2), **json.loads(lines[-1])}
            starts.append(start)
            print(json.dumps(start), flush=True)
    import diffusers
    import torch

    first = starts[0]["total_s"]
    print(
        f"\nWarm-up of {spec} with DIFFUSERS_OPTIMIZE={args.optimize} "
        f"({'full-size' if args.full else 'tiny'} models), torch {torch.__version__}, "
        f"diffusers {diffusers.__version__}"
    )
    print("| start | warm-up s | vs first | process wall s | imports s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for s in starts:
        ratio = s["total_s"] / first if first else float("nan")
        print(
            f"| {s['start']} | {s['total_s']:.2f} | {ratio:.2f}× | {s['process_wall_s']:.1f} "
            f"| {s['imports_s']:.1f} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"spec": spec, "starts": starts}, indent=2))
    return 0 if not any(s["errors"] for s in starts) else 1


if __name__ == "__main__":
    sys.exit(main())
