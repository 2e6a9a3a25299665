"""One procedural job through the whole platform: POST → queued → running → succeeded.

Starts the real processes of `make run` on embedded defaults in a scratch folder (a SQLite
database, media, Redis database 12 on 127.0.0.1:6379): daphne (config.asgi) and a Celery worker
(prefork, one child, queues default,cpu,gpu). Then, with a token, it POSTs text-to-video jobs of
16 frames and polls `GET /api/v1/generations/<id>/` every 20 ms until each is finished.

Timed in the same run:
  end to end   POST sent → the poll that first sees `succeeded` (HTTP, validation, the charge,
               Celery over Redis, the worker's render + encode + thumbnail, the row updates)
  baseline     the same render in this process: workers.pipeline.render_video with the
               procedural engine, same size, frames and seed (no Django, no queue, no HTTP)
The ratio end to end / baseline is the platform's overhead on a job.

Memory: the daphne process's RSS after start, and after the jobs plus 200 API reads; the
worker's parent and child RSS after the jobs.

    python bench/job_latency.py                 # 5 jobs after one warm-up
    python bench/job_latency.py --jobs 10 --json out.json

Results: BENCHMARKS.md, "One job end to end".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

PROMPT = "a neon city at night, rain on the street"
FRAMES = 16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ailounge-bench-"))
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DATABASE_URL": f"sqlite:///{scratch / 'db.sqlite3'}",
            "MEDIA_ROOT": str(scratch / "media"),
            "REDIS_URL": "redis://127.0.0.1:6379/12",
            "GENERATION_ENGINE": "procedural",
            "FREE_CREDITS": "1000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    procs: list[subprocess.Popen] = []
    try:
        manage = [str(BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; "
                "get_user_model().objects.create_user('bench', password='bench-pass-123')",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        port = _free_port()
        web = _start(
            [str(BIN / "daphne"), "-p", str(port), "config.asgi:application"],
            env,
            scratch / "web.log",
        )
        procs.append(web)
        worker = _start(
            [
                str(BIN / "celery"), "-A", "config", "worker", "-Q", "default,cpu,gpu",
                "--concurrency", "1", "--prefetch-multiplier", "1", "-n", f"bench-{port}@%h",
                "--without-gossip", "--without-mingle", "-l", "warning",
            ],
            env,
            scratch / "worker.log",
        )  # fmt: skip
        procs.append(worker)
        base = f"http://127.0.0.1:{port}"
        _wait_http(base, web)
        time.sleep(3)  # the worker connects to Redis and forks its child
        web_rss_start = psutil.Process(web.pid).memory_info().rss

        session = requests.Session()
        token = session.post(
            f"{base}/api/v1/auth/token/",
            json={"username": "bench", "password": "bench-pass-123"},
            timeout=10,
        ).json()["token"]
        session.headers["Authorization"] = f"Token {token}"

        _run_job(session, base, seed=1)  # warm-up: imports and caches in the worker child
        runs = [_run_job(session, base, seed=100 + i) for i in range(args.jobs)]
        for _ in range(200):
            session.get(f"{base}/api/v1/generations/", timeout=10).raise_for_status()
        web_rss_end = psutil.Process(web.pid).memory_info().rss
        worker_proc = psutil.Process(worker.pid)
        worker_rss = worker_proc.memory_info().rss
        child_rss = sum(c.memory_info().rss for c in worker_proc.children(recursive=True))

        first = runs[0]
        baseline = [
            _render_in_process(first["width"], first["height"], first["fps"], seed=100 + i, out=scratch / f"b{i}")
            for i in range(args.jobs)
        ]  # fmt: skip
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(scratch, ignore_errors=True)

    e2e = [r["seconds"] for r in runs]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "jobs": args.jobs,
        "frames": FRAMES,
        "size": f"{first['width']}x{first['height']}",
        "end_to_end_median_s": statistics.median(e2e),
        "end_to_end_max_s": max(e2e),
        "queue_wait_median_s": statistics.median(r["queued_s"] for r in runs),
        "worker_run_median_s": statistics.median(r["running_s"] for r in runs),
        "baseline_median_s": statistics.median(baseline),
        "ratio_median": statistics.median(e2e) / statistics.median(baseline),
        "web_rss_start_mib": web_rss_start / 2**20,
        "web_rss_end_mib": web_rss_end / 2**20,
        "worker_parent_rss_mib": worker_rss / 2**20,
        "worker_child_rss_mib": child_rss / 2**20,
    }
    print(f"| measure ({result['machine']}) | value |")
    print("| --- | --- |")
    for key, value in result.items():
        if key != "machine":
            print(
                f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |"
            )
    if args.json:
        args.json.write_text(json.dumps({"result": result, "runs": runs}, indent=2))


def _run_job(session: requests.Session, base: str, *, seed: int) -> dict:
    body = {
        "kind": "text_to_video",
        "engine": "procedural",
        "prompt": PROMPT,
        "params": {"num_frames": FRAMES, "seed": seed},
    }
    started = time.perf_counter()
    response = session.post(f"{base}/api/v1/generations/", json=body, timeout=10)
    response.raise_for_status()
    job = response.json()
    while job["status"] not in ("succeeded", "failed", "canceled"):
        time.sleep(0.02)
        job = session.get(f"{base}/api/v1/generations/{job['id']}/", timeout=10).json()
    seconds = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job['id']} ended {job['status']}: {job['error']}")
    created, began, ended = (
        _ts(job["created_at"]),
        _ts(job["started_at"]),
        _ts(job["finished_at"]),
    )
    return {
        "id": job["id"],
        "seconds": seconds,
        "queued_s": began - created,
        "running_s": ended - began,
        "width": job["width"],
        "height": job["height"],
        "fps": job["fps"],
        "num_frames": job["num_frames"],
    }


def _render_in_process(width: int, height: int, fps: float, *, seed: int, out: Path) -> float:
    from workers.engines import get_engine
    from workers.engines.base import VideoRequest
    from workers.pipeline import render_video

    request = VideoRequest(
        kind="text_to_video",
        prompt=PROMPT,
        negative_prompt="",
        image_path=None,
        width=width,
        height=height,
        fps=fps,
        num_frames=FRAMES,
        num_inference_steps=25,
        guidance_scale=9.0,
        motion_strength=0.5,
        noise_aug_strength=0.02,
        seed=seed,
        extra={},
    )
    started = time.perf_counter()
    render_video(request, engine=get_engine("procedural"), out_dir=out, progress=lambda *a: None)
    return time.perf_counter() - started


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _wait_http(base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("daphne exited early")
        try:
            requests.get(f"{base}/api/schema/", timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("daphne did not start")


def _stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


if __name__ == "__main__":
    main()
