"""Fan-out: N concurrent websocket subscribers on one job each receive the final event.

The real daphne server (config.asgi:application) on a scratch database (see
progress_latency.live_stack). N `websockets` clients, authenticated by token, subscribe to
`ws/generations/<id>/` of one running job; all are connected and have their snapshot before
anything is sent. Then the job reports `--events` progress steps at `--rate` per second through
the ProgressReporter (every subscriber should see them, best effort) and finishes: the row becomes `succeeded` and
`generation_broadcast(finished=True)` sends the `finished` event, as the worker does.

Reported: connect time for all N, how many got the final event (the pass condition: all), the
delay from the broadcast to each subscriber's receipt (p50/p99/max over subscribers), and how
many progress events each saw (min/median).

    python bench/ws_fanout.py                      # 200 subscribers, 50 events at 10/s
    python bench/ws_fanout.py --subscribers 500 --events 100 --json out.json

Results and method: BENCHMARKS.md, "Live progress".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from progress_latency import LAYERS, live_stack, percentiles, running_generation  # noqa: E402


async def subscribe(url: str, token: str, origin: str):
    from websockets.asyncio.client import connect

    ws = await connect(
        url, additional_headers={"Authorization": f"Token {token}"}, origin=origin, open_timeout=60
    )
    snapshot = json.loads(await ws.recv())
    assert snapshot["type"] == "progress", snapshot
    return ws


async def listen(ws, record: dict) -> None:
    async for message in ws:
        at = time.perf_counter()
        event = json.loads(message)
        if event["type"] == "finished":
            record["finished_at"] = at
            record["status"] = event["status"]
            return
        record["progress"] += 1


def run(base: str, *, subscribers: int, events: int, rate: float) -> dict:
    from django.utils import timezone

    from apps.generation.events import generation_broadcast
    from apps.generation.models import Generation
    from apps.generation.progress import ProgressReporter

    _, token, generation = running_generation(frames=events)
    url = base.replace("http://", "ws://", 1) + f"/ws/generations/{generation.pk}/"
    records = [{"progress": 0, "finished_at": None, "status": None} for _ in range(subscribers)]
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coroutine, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout)

    async def connect_all():
        limit = asyncio.Semaphore(50)  # connect in waves, as page loads would arrive

        async def one():
            async with limit:
                return await subscribe(url, token, base)

        return await asyncio.gather(*(one() for _ in range(subscribers)))

    started = time.perf_counter()
    sockets = on_loop(connect_all())
    connect_seconds = time.perf_counter() - started
    listeners = [
        asyncio.run_coroutine_threadsafe(listen(ws, r), loop)
        for ws, r in zip(sockets, records, strict=True)
    ]

    reporter = ProgressReporter(generation)
    for step in range(1, events + 1):
        reporter("generating", step, events)
        time.sleep(1 / rate)
    Generation.objects.filter(pk=generation.pk).update(
        status="succeeded", stage="done", progress=1.0, finished_at=timezone.now()
    )
    sent = time.perf_counter()
    generation_broadcast(generation_id=generation.pk, finished=True)
    for listener in listeners:
        with contextlib.suppress(Exception):  # one that never got it is counted below
            listener.result(timeout=30)

    async def close_all():
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    on_loop(close_all())
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)

    got = [r for r in records if r["finished_at"] is not None and r["status"] == "succeeded"]
    delays = [r["finished_at"] - sent for r in got]
    progress_seen = [r["progress"] for r in records]
    return {
        "subscribers": subscribers,
        "progress_events_sent": events,
        "progress_rate_per_s": rate,
        "connect_all_s": connect_seconds,
        "received_final": len(got),
        "final_delay": percentiles(delays) if delays else None,
        "progress_seen_min": min(progress_seen),
        "progress_seen_median": statistics.median(progress_seen),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--events", type=int, default=50, help="progress events before the end")
    parser.add_argument(
        "--rate",
        type=float,
        default=10.0,
        help="progress events per second (a diffusion engine: ~2-10)",
    )
    parser.add_argument("--postgres", action="store_true", help="scratch PostgreSQL database")
    parser.add_argument(
        "--layer", choices=sorted(LAYERS), help="the channel layer (sender and daphne)"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 4 * args.subscribers + 256:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4 * args.subscribers + 256), hard))

    with live_stack(postgres=args.postgres, layer=args.layer or "") as base:
        from django.conf import settings
        from django.db import connection

        results = run(base, subscribers=args.subscribers, events=args.events, rate=args.rate)
        results["database"] = connection.vendor
        results["channel_layer"] = settings.CHANNEL_LAYERS["default"]["BACKEND"]
    results["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs"

    n, got = results["subscribers"], results["received_final"]
    print(f"{n} subscribers on one job ({results['machine']}, database {results['database']})")
    print(f"channel layer: {results['channel_layer']}")
    print(f"connected (with snapshot) in {results['connect_all_s']:.2f} s")
    print(f"final event received by {got}/{n}")
    if results["final_delay"]:
        d = results["final_delay"]
        print(
            f"broadcast -> receipt: p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, "
            f"max {d['max_ms']:.1f} ms"
        )
    print(
        f"progress events seen per subscriber: min {results['progress_seen_min']}, "
        f"median {results['progress_seen_median']:g} of {results['progress_events_sent']} "
        f"(sent at {results['progress_rate_per_s']:g}/s)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if got == n else 1


if __name__ == "__main__":
    sys.exit(main())
