"""The web tier under load: N concurrent token clients create procedural generations.

Starts the real web tier of `make run` (`python -m config.webserver`: --web-processes daphne
processes on one port, default one per core) on a scratch PostgreSQL database made for the run
(from --database-url's server; dropped at the end) and Redis database 10, with no worker
consuming (the jobs stay queued; the Celery queues are purged at the end). Users, their tokens
and credits come from the ORM before the web tier starts (the token endpoint is throttled).

In the same run the same --clients clients (httpx, async, one keep-alive connection each):
  ping     GET /api/v1/ping/ for --seconds: token auth and nothing else, the web tier's own
           cost per request (the baseline)
  create   POST /api/v1/generations/ (text_to_video, procedural, 8 frames) for --seconds:
           validation, the prompt screen, the abuse limits, pricing, the charge and the row in
           one transaction, the enqueue to Redis and the websocket broadcast
Reported: requests/s, p50/p99 latency and status counts of each, and creates/s ÷ pings/s.
The target (issue 16): creates/s ≥ 0.5 × pings/s and create p99 ≤ 100 ms at 32 clients.

Without a PostgreSQL server at --database-url (BENCH_DATABASE_URL) it says so and exits 0.

Afterwards, from the database: every user's ledger sums to their balance, and the generations
in the database are exactly the 201s the clients got. Either failing, or any 500, makes the
script exit 1; missing the speed target does not (it is reported).

    python bench/create_load.py                          # 32 clients, 10 s per phase
    python bench/create_load.py --clients 64 --seconds 20 --web-processes 4 --json out.json

Results: BENCHMARKS.md, "Web tier under load".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

JOB = {
    "kind": "text_to_video",
    "engine": "procedural",
    "prompt": "a neon city at night, rain on the street",
    "params": {"num_frames": 8, "width": 256, "height": 256, "fps": 8, "enhance_prompt": False},
}
CREDITS = 10_000_000  # per user: no run runs out
REDIS_URL = ["redis://127.0.0.1:6379/10"]  # the run's --redis-url (whose connections are counted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument(
        "--web-processes", type=int, default=None, help="default: WEB_CONCURRENCY or the cores"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server and a database to connect to while creating the scratch one",
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from config.webserver import default_processes

    web_processes = args.web_processes or default_processes()
    REDIS_URL[0] = args.redis_url

    admin_url = args.database_url.replace("postgres://", "postgresql://", 1)
    db_name = f"ailounge_bench_{os.getpid()}"
    scratch = Path(tempfile.mkdtemp(prefix="ailounge-load-"))
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": _with_database(args.database_url, db_name),
            "MEDIA_ROOT": str(scratch / "media"),
            "REDIS_URL": args.redis_url,
            "GENERATION_ENGINE": "procedural",
            "FREE_CREDITS": str(CREDITS),
            "WEB_CONCURRENCY": str(web_processes),
            # The load is many requests from few users: the per-user abuse limits would turn it
            # into 429s. They still run on every create, with limits no client reaches.
            "THROTTLE_RATE_CREATE": "1000000/min",
            "MAX_ACTIVE_GENERATIONS_PER_USER": "1000000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DAILY_SPEND_LIMIT", None)
    web = None
    try:
        admin = psycopg.connect(admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        # `make bench` on a machine without PostgreSQL: say so and go on to the next script.
        print(f"create_load: skipped, no PostgreSQL at {args.database_url} ({exc})".strip())
        return 0
    with admin:
        admin.execute(f'CREATE DATABASE "{db_name}"')
    try:
        manage = [str(BIN / "python"), "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        tokens = json.loads(
            subprocess.run(
                [*manage, "shell", "-c", _USERS.format(n=args.clients)],
                cwd=ROOT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = _free_port()
        log = scratch / "web.log"
        with open(log, "wb") as out:
            web = subprocess.Popen(
                [str(BIN / "python"), "-m", "config.webserver", "--port", str(port)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        _wait_http(base, web, log)
        phases = asyncio.run(_load(base, tokens, seconds=args.seconds, web=web))
        _stop(web)
        web = None
        check = _check(_with_database(admin_url, db_name), created=phases["create"]["created"])
        subprocess.run(
            [str(BIN / "celery"), "-A", "config", "purge", "-f", "-Q", "default,cpu,gpu"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    finally:
        if web is not None:
            _stop(web)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)

    ping, create = phases["ping"], phases["create"]
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "web_processes": web_processes,
        "ping_per_s": ping["per_s"],
        "ping_p50_ms": ping["p50_ms"],
        "ping_p99_ms": ping["p99_ms"],
        "create_per_s": create["per_s"],
        "create_p50_ms": create["p50_ms"],
        "create_p99_ms": create["p99_ms"],
        "ratio_create_to_ping": create["per_s"] / ping["per_s"] if ping["per_s"] else 0.0,
        "ping_web_cpu_ms": ping["web_cpu_ms"],
        "create_web_cpu_ms": create["web_cpu_ms"],
        "ping_client_cpu_ms": ping["client_cpu_ms"],
        "create_client_cpu_ms": create["client_cpu_ms"],
        "web_redis_connections_after_ping": ping["redis_connections"],
        "web_redis_connections_after_create": create["redis_connections"],
        "load_average_1min_at_end": os.getloadavg()[0],
        "ping_statuses": dict(ping["statuses"]),
        "create_statuses": dict(create["statuses"]),
        "generations_in_db": check["generations"],
        "ledgers_exact": check["ledgers_exact"],
    }
    result["target_met"] = result["ratio_create_to_ping"] >= 0.5 and result["create_p99_ms"] <= 100
    print(f"| measure ({result['machine']}) | value |")
    print("| --- | --- |")
    for key, value in result.items():
        if key != "machine":
            print(
                f"| {key} | {value:.3f} |" if isinstance(value, float) else f"| {key} | {value} |"
            )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))

    problems = []
    if not check["ledgers_exact"]:
        problems.append(f"ledgers that do not sum to the balance: {check['mismatched']}")
    if check["generations"] != create["created"]:
        problems.append(
            f"{check['generations']} generations in the database, {create['created']} 201s"
        )
    for name, phase in phases.items():
        if phase["statuses"].get(500) or phase["errors"]:
            problems.append(
                f"{name}: {phase['statuses'].get(500, 0)} 500s, errors {phase['errors'][:3]}"
            )
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


_USERS = """
import json
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
tokens = []
for i in range({n}):
    user = get_user_model().objects.create_user(f"load{{i}}", password=None)
    tokens.append(Token.objects.create(user=user).key)
print(json.dumps(tokens))
"""


async def _load(base: str, tokens: list[str], *, seconds: float, web: subprocess.Popen) -> dict:
    clients = [
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Token {token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        for token in tokens
    ]
    try:
        # Warm-up, not counted: every client's connection open, every process past its imports.
        await asyncio.gather(*(c.get("/api/v1/ping/") for c in clients for _ in range(3)))
        daphnes = psutil.Process(web.pid).children()
        ping = await _phase(clients, seconds, lambda c: c.get("/api/v1/ping/"), daphnes, ok=200)
        create = await _phase(
            clients, seconds, lambda c: c.post("/api/v1/generations/", json=JOB), daphnes, ok=201
        )
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    return {"ping": ping, "create": create}


async def _phase(clients, seconds: float, call, daphnes, *, ok: int) -> dict:
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: list[str] = []
    web_cpu, own_cpu = _cpu_seconds(daphnes), time.process_time()
    started = time.perf_counter()
    deadline = started + seconds

    async def client_loop(client):
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            try:
                response = await call(client)
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
                continue
            latencies.append(time.perf_counter() - sent)
            statuses[response.status_code] += 1

    await asyncio.gather(*(client_loop(c) for c in clients))
    elapsed = time.perf_counter() - started
    web_cpu, own_cpu = _cpu_seconds(daphnes) - web_cpu, time.process_time() - own_cpu
    redis_connections = _redis_connections(daphnes)
    latencies.sort()
    answered = max(1, len(latencies))
    return {
        "per_s": statuses[ok] / elapsed,
        # CPU per answered request: the web processes' (what the server spends) and this
        # script's (the clients', on the same cores).
        "web_cpu_ms": web_cpu / answered * 1000,
        "client_cpu_ms": own_cpu / answered * 1000,
        "p50_ms": _quantile(latencies, 0.50) * 1000,
        "p99_ms": _quantile(latencies, 0.99) * 1000,
        "statuses": statuses,
        # Open TCP connections from the web processes to Redis at the end of the phase: a
        # number that grows with the requests served is a leak.
        "redis_connections": redis_connections,
        "created": statuses[201],
        "errors": errors,
    }


def _redis_connections(procs) -> int:
    port = urlsplit(REDIS_URL[0]).port or 6379
    total = 0
    for proc in procs:
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        total += sum(1 for c in connections if c.raddr and c.raddr.port == port)
    return total


def _cpu_seconds(procs) -> float:
    total = 0.0
    for proc in procs:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(q * len(values)))]


def _check(dsn: str, *, created: int) -> dict:
    """Every account's balance is the sum of its ledger; the generations are the 201s (the
    warm-up created none)."""
    with psycopg.connect(dsn) as conn:
        mismatched = conn.execute(
            "SELECT a.user_id, a.balance, COALESCE(SUM(e.amount), 0) FROM billing_creditaccount a "
            "LEFT JOIN billing_ledgerentry e ON e.account_id = a.id "
            "GROUP BY a.id HAVING a.balance <> COALESCE(SUM(e.amount), 0)"
        ).fetchall()
        generations = conn.execute("SELECT count(*) FROM generation_generation").fetchone()[0]
    return {"ledgers_exact": not mismatched, "mismatched": mismatched, "generations": generations}


def _with_database(url: str, name: str) -> str:
    head, _, _ = url.rpartition("/")
    return f"{head}/{name}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the web tier exited early:\n{log.read_text()[-3000:]}")
        try:
            httpx.get(f"{base}/api/schema/", timeout=5)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"the web tier did not start:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
