"""Live progress latency: a worker's report to the websocket client, beside raw Redis pub/sub.

What is timed, per event, with one clock (perf_counter is CLOCK_MONOTONIC on Linux, the same
for every process of the machine):

  websocket path   ProgressReporter.__call__ in this process (progress mapping, ETA, the
                   channel-layer group_send to `generation.<id>` and `user.<id>`, then the
                   throttled row write and cancel check) → Redis → the real daphne server
                   (config.asgi:application, its consumer) → websocket frame → a `websockets`
                   client, authenticated by token, in a separate client process
  raw round trip   PUBLISH of the same JSON from this process → Redis → an echo process (an
                   asyncio subscriber that re-publishes it, standing where daphne stands)
                   → Redis → a subscriber in the client process: the same topology, nothing
                   but pub/sub
  raw one way      PUBLISH → Redis → the subscriber in the client process (the floor)

Each event is sent only after the previous one arrived (ping-pong), so the figures are latency,
not queueing. The three paths alternate event by event, so all see the same machine conditions.
The reporter runs with the production throttle (GENERATION_PROGRESS_MIN_INTERVAL=0.5 s: a row
write every 0.5 s, a cancel check every 50 ms), on a generation row in a scratch database.

    python bench/progress_latency.py                  # 2000 events, SQLite scratch database
    python bench/progress_latency.py --postgres       # a scratch PostgreSQL database (trust)
    python bench/progress_latency.py --events 5000 --json out.json
    python bench/progress_latency.py --layer stock    # channels_redis' queue-based layer

Targets (issue 4): websocket p99 <= 25 ms and <= 3x the raw pub/sub round trip's p99.
Results and method: BENCHMARKS.md, "Live progress".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LAYERS = {  # the platform's default is "pubsub" (config/settings/base.py)
    "pubsub": "apps.generation.channel_layer.RedisChannelLayer",
    "stock": "channels_redis.core.RedisChannelLayer",
}
P99_TARGET_MS = 25.0
RAW_RATIO_TARGET = 3.0


# --- a scratch stack: settings, database, daphne --------------------------------------------


@contextlib.contextmanager
def live_stack(
    *, postgres: bool, min_interval: float = 0.5, settings_module: str = "", layer: str = ""
):
    """Django set up on a scratch database and Redis prefix, and a daphne server; yields its URL.

    `layer` (a key of LAYERS) sets the channel layer of this process and of daphne alike.
    """
    run_id = f"bench-{os.getpid()}"
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    db_name = f"bench_live_{os.getpid()}"
    sqlite_path = var / f"{run_id}.sqlite3"
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module or "config.settings.test"
    os.environ["TEST_RUN_ID"] = run_id
    os.environ["MEDIA_ROOT"] = str(var / f"{run_id}-media")
    os.environ["GENERATION_PROGRESS_MIN_INTERVAL"] = str(min_interval)
    if layer:
        os.environ["CHANNEL_LAYER_BACKEND"] = LAYERS[layer]
    if postgres:
        _pg_admin(f'CREATE DATABASE "{db_name}"')
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_path}"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from tests import processes

    try:
        call_command("migrate", verbosity=0)
        with processes.web_server() as base:
            yield base
    finally:
        connections.close_all()
        _redis_wipe(f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}*")
        shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)
        for path in var.glob(f"{run_id}*"):
            path.unlink(missing_ok=True)
        for path in var.glob(f"web-{run_id}-*.log"):
            path.unlink(missing_ok=True)
        if postgres:
            _pg_admin(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(sql)


def _redis_wipe(pattern: str) -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(pattern):
        client.delete(key)
    client.close()


def running_generation(*, frames: int = 10_000):
    """A user, their API token, and one running generation row."""
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from apps.accounts.models import User
    from apps.generation.models import Generation

    user = User.objects.create_user(username=f"bench{time.time_ns()}", password="x-bench-x")
    token, _ = Token.objects.get_or_create(user=user)
    generation = Generation.objects.create(
        user=user,
        kind="text_to_video",
        engine="procedural",
        queue="cpu",
        status="running",
        stage="generating",
        started_at=timezone.now(),
        params={"width": 1024, "height": 576, "num_frames": frames, "fps": 8},
    )
    return user, token.key, generation


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50_ms": at(0.50) * 1000,
        "p90_ms": at(0.90) * 1000,
        "p99_ms": at(0.99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": sum(ordered) / len(ordered) * 1000,
    }


# --- the measurement ------------------------------------------------------------------------


def measure(base: str, *, events: int, warmup: int) -> dict:
    """Ping-pong `events` (+ `warmup`) events down each path; latencies in seconds."""
    import redis
    from django.conf import settings

    from apps.generation.progress import ProgressReporter

    _, token, generation = running_generation(frames=events + warmup)
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    raw_channel, echo_in, echo_out = f"{prefix}raw", f"{prefix}echo-in", f"{prefix}echo-out"
    echo = _helper("--echo", settings.REDIS_URL, echo_in, echo_out)
    ws_url = base.replace("http://", "ws://", 1) + f"/ws/generations/{generation.pk}/"
    client = _helper("--client", ws_url, token, base, settings.REDIS_URL, raw_channel, echo_out)
    publisher = redis.Redis.from_url(settings.REDIS_URL)
    reporter = ProgressReporter(generation)  # the production throttle (see live_stack)
    total = events + warmup
    ws_latency, call_time, echo_latency, raw_latency = [], [], [], []

    def arrival(kind: str, step: int) -> float:
        got_kind, got_step, at = client.stdout.readline().split()
        assert (got_kind.decode(), int(got_step)) == (kind, step), (got_kind, got_step, step)
        return float(at)

    def timed_publish(channel: str, kind: str, step: int) -> float:
        payload = json.dumps(_event_like(generation, step, total))
        started = time.perf_counter()
        publisher.publish(channel, payload)
        return arrival(kind, step) - started

    try:
        for step in range(1, total + 1):
            t0 = time.perf_counter()
            reporter("generating", step, total)
            returned = time.perf_counter()
            arrived = arrival("ws", step)
            echo_time = timed_publish(echo_in, "echo", step)
            raw_time = timed_publish(raw_channel, "raw", step)
            if step > warmup:
                ws_latency.append(arrived - t0)
                call_time.append(returned - t0)
                echo_latency.append(echo_time)
                raw_latency.append(raw_time)
    finally:
        publisher.close()
        for process in (client, echo):
            process.terminate()
            process.wait(timeout=10)
    return {
        "websocket": percentiles(ws_latency),
        "reporter_call": percentiles(call_time),
        "raw_round_trip": percentiles(echo_latency),
        "raw_one_way": percentiles(raw_latency),
    }


def _helper(*args: str) -> subprocess.Popen:
    """This script in another process (--echo or --client), once it says it is ready."""
    process = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE)
    if process.stdout.readline().strip() != b"ready":
        process.kill()
        raise RuntimeError(f"helper {args[0]} did not start")
    return process


def echo_main(redis_url: str, channel_in: str, channel_out: str) -> None:
    """Stands where daphne stands, for the raw round trip: re-publish every message unchanged."""
    import redis.asyncio as aredis

    async def run():
        client = aredis.Redis.from_url(redis_url)
        pubsub = client.pubsub()
        await pubsub.subscribe(channel_in)
        print("ready", flush=True)
        async for message in pubsub.listen():
            if message["type"] == "message":
                await client.publish(channel_out, message["data"])

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def client_main(ws_url, token, origin, redis_url, raw_channel, echo_out) -> None:
    """The receiving end, in its own process as a browser would be: one websocket (by token)
    and one pub/sub subscription; prints `<kind> <step> <perf_counter at arrival>` per event.
    perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process of the machine.
    """
    import redis.asyncio as aredis
    from websockets.asyncio.client import connect

    def report(kind: str, step: int, at: float) -> None:
        sys.stdout.write(f"{kind} {step} {at:.9f}\n")
        sys.stdout.flush()

    async def websocket(ws):
        async for message in ws:
            at = time.perf_counter()
            event = json.loads(message)
            if event.get("type") == "progress" and event.get("stage") == "generating":
                report("ws", event["step"], at)

    async def pubsub_reader(pubsub):
        async for message in pubsub.listen():
            at = time.perf_counter()
            if message["type"] == "message":
                kind = "raw" if message["channel"] == raw_channel.encode() else "echo"
                report(kind, json.loads(message["data"])["step"], at)

    async def run():
        ws = await connect(
            ws_url, additional_headers={"Authorization": f"Token {token}"}, origin=origin
        )
        await ws.recv()  # the snapshot
        pubsub = aredis.Redis.from_url(redis_url).pubsub()
        await pubsub.subscribe(raw_channel, echo_out)
        print("ready", flush=True)
        await asyncio.gather(websocket(ws), pubsub_reader(pubsub))

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _event_like(generation, step: int, total: int) -> dict:
    return {
        "type": "progress",
        "id": str(generation.pk),
        "status": "running",
        "stage": "generating",
        "progress": round(0.05 + 0.8 * step / total, 4),
        "step": step,
        "total_steps": total,
        "queue_position": None,
        "eta_seconds": 12.3,
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--echo"]:
        echo_main(*argv[1:4])
        return 0
    if argv[:1] == ["--client"]:
        client_main(*argv[1:7])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="timed events (>= 1000)")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="scratch PostgreSQL database")
    parser.add_argument(
        "--layer",
        choices=sorted(LAYERS),
        help="the channel layer of the sender and of daphne (default: as configured)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    with live_stack(postgres=args.postgres, layer=args.layer or "") as base:
        from django.conf import settings
        from django.db import connection

        layer = settings.CHANNEL_LAYERS["default"]["BACKEND"]
        results = measure(base, events=args.events, warmup=args.warmup)
        database = connection.vendor

    ws, call = results["websocket"], results["reporter_call"]
    raw, floor = results["raw_round_trip"], results["raw_one_way"]
    ratio = ws["p99_ms"] / raw["p99_ms"] if raw["p99_ms"] else float("inf")
    results.update(
        {
            "database": database,
            "channel_layer": layer,
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}",
            "p99_ratio_to_raw": ratio,
            "targets": {"p99_ms": P99_TARGET_MS, "ratio_to_raw": RAW_RATIO_TARGET},
        }
    )
    print(f"{ws['n']} events each, database {database}, {results['machine']}")
    print(f"channel layer: {layer}")
    print(f"{'path':<34}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, row in (
        ("reporter call -> websocket client", ws),
        ("  of which the reporter call", call),
        ("raw pub/sub round trip (echo)", raw),
        ("raw pub/sub one way", floor),
    ):
        print(
            f"{label:<34}{row['p50_ms']:>9.2f}{row['p90_ms']:>9.2f}"
            f"{row['p99_ms']:>9.2f}{row['max_ms']:>9.2f}"
        )
    ok = ws["p99_ms"] <= P99_TARGET_MS and ratio <= RAW_RATIO_TARGET
    print(
        f"websocket p99 / raw round trip p99 = {ratio:.2f}x  "
        f"(targets: p99 <= {P99_TARGET_MS:.0f} ms and <= {RAW_RATIO_TARGET:.0f}x raw): "
        f"{'met' if ok else 'NOT met'}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
