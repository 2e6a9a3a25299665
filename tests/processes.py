"""Real processes for integration and browser tests: a Celery worker and the daphne web server.

Each fixture that starts a process stops it (and its children) when it ends. The processes use
the test database that pytest-django created, the test media folder and the run's Redis prefix.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

import requests
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{s['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url(),
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "REDIS_URL": settings.REDIS_URL,
            "TEST_RUN_ID": settings.TEST_RUN_ID,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, *, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=timeout)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextmanager
def celery_worker(*, queues: str = "default,cpu,gpu", log: Path | None = None, **env: str):
    """A real `celery -A config worker` (prefork, one child) consuming the test queues."""
    log = (
        log
        or Path(settings.MEDIA_ROOT).parent / f"worker-{settings.TEST_RUN_ID}-{time.time_ns()}.log"
    )
    log.parent.mkdir(parents=True, exist_ok=True)
    hostname = f"test-{settings.TEST_RUN_ID}-{time.time_ns()}@%h"
    proc = _spawn(
        [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "--concurrency",
            "1",
            "--prefetch-multiplier",
            "1",
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            hostname,
            "-l",
            "info",
        ],
        log,
        env,
    )
    try:
        _wait_for_log(proc, log, b"ready.", timeout=60)
        yield proc
    finally:
        stop_process(proc)


@contextmanager
def web_server(*, processes: int | None = None, **env: str):
    """The real ASGI server (daphne: HTTP + websockets) on a free local port. With `processes`,
    that many daphne processes behind `python -m config.webserver` (as `make run` serves), all
    answering on the one port; `web_pids(base)` names them."""
    port = free_port()
    log = Path(settings.MEDIA_ROOT).parent / f"web-{settings.TEST_RUN_ID}-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if processes is None:
        argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    else:
        argv = [str(BIN / "python"), "-m", "config.webserver", "--bind", "127.0.0.1"]
        argv += ["--port", str(port), "--processes", str(processes)]
    proc = _spawn(argv, log, env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answers(
            proc,
            lambda: requests.get(f"{base}/api/schema/", timeout=2),
            requests.RequestException,
            timeout=60,
            what=lambda: f"daphne:\n{log.read_text()[-3000:]}",
        )
        if processes is not None:
            _wait_until_answers(
                proc,
                lambda: _assert_listeners(port, processes),
                AssertionError,
                timeout=60,
                what=lambda: f"web processes:\n{log.read_text()[-3000:]}",
            )
        yield base
    finally:
        stop_process(proc)


def web_pids(base: str) -> set[int]:
    """The pids of the processes listening on `base`'s port (one per daphne)."""
    import psutil

    port = int(base.rsplit(":", 1)[1].split("/")[0])
    return {
        c.pid
        for c in psutil.net_connections(kind="tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def _assert_listeners(port: int, processes: int) -> None:
    pids = web_pids(f"http://127.0.0.1:{port}")
    assert len(pids) >= processes, f"{len(pids)} of {processes} web processes listening"


def _spawn(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """Start a test process in its own session (so stop_process stops its children too), with
    the test run's environment plus `env`, its output in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=process_env(**env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_answers(proc, probe, errors, *, timeout: float, what) -> None:
    """Call `probe` until it stops raising `errors`; fail if `proc` exits or time runs out.
    `what()` names the process (and may add its log) in the error."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"exited early (status {proc.returncode}): {what()}")
        try:
            probe()
            return
        except errors:
            if time.monotonic() > deadline:
                raise RuntimeError(f"did not start in {timeout}s: {what()}") from None
            time.sleep(0.1)


def _wait_for_log(proc: subprocess.Popen, log: Path, needle: bytes, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text(errors='replace')[-3000:]}")
        if needle in log.read_bytes():
            return
        time.sleep(0.2)
    raise RuntimeError(
        f"process not ready in {timeout}s:\n{log.read_text(errors='replace')[-3000:]}"
    )


@contextmanager
def redis_server(port: int):
    """A private, diskless redis-server on 127.0.0.1:`port`, for tests that stop Redis itself
    (the shared one must stay up for the rest of the run). Yields its URL."""
    import redis

    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--appendonly", "no", "--daemonize", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def ping():
        with redis.Redis.from_url(url, socket_connect_timeout=1) as client:
            client.ping()

    try:
        _wait_until_answers(
            proc, ping, redis.ConnectionError, timeout=10, what=lambda: "redis-server"
        )
        yield url
    finally:
        stop_process(proc)


@contextmanager
def celery_beat(**env: str):
    """A real `celery -A config beat` sending the periodic tasks (schedule file in the test
    media folder's parent)."""
    stamp = f"{settings.TEST_RUN_ID}-{time.time_ns()}"
    base = Path(settings.MEDIA_ROOT).parent
    log = base / f"beat-{stamp}.log"
    schedule = base / f"beat-{stamp}.schedule"
    proc = _spawn(
        [str(BIN / "celery"), "-A", "config", "beat", "-s", str(schedule), "-l", "info"],
        log,
        env,
    )
    try:
        _wait_for_log(proc, log, b"beat: Starting", timeout=60)
        yield proc
    finally:
        stop_process(proc)
        for leftover in base.glob(f"beat-{stamp}.schedule*"):
            leftover.unlink(missing_ok=True)


class RestartableRedis:
    """A private, diskless redis-server that a test stops and starts again on the same port:
    what a Redis restart without persistence does to the broker (every queue emptied)."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._context = None

    def start(self) -> None:
        self._context = redis_server(self.port)
        self._context.__enter__()

    def stop(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = None


@contextmanager
def restartable_redis(port: int):
    server = RestartableRedis(port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
