"""The web tier on PostgreSQL's connection pool: a bounded number of connections whatever the
load, and an empty pool answers 503 `database_busy` with Retry-After, never a 500.

Real daphne processes on the test database; the pool is made tiny (1–2 connections) through the
settings (DB_POOL_*), and a row lock taken by the test holds a request's connection for as long
as the test wants, so the other requests find the pool empty.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psutil
import psycopg
import pytest
import requests
from django.db import connection
from rest_framework.authtoken.models import Token

from tests import pg, processes

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the connection pool is PostgreSQL's"
    ),
]


def _database_connections(pids: set[int]) -> int:
    """The TCP connections the processes `pids` hold open to the database server."""
    port = int(connection.settings_dict.get("PORT") or 5432)
    return sum(
        1
        for c in psutil.net_connections(kind="tcp")
        if c.pid in pids and c.raddr and c.raddr.port == port
    )


def test_an_empty_pool_answers_503_database_busy_and_the_held_request_still_succeeds(user):
    token = Token.objects.create(user=user).key
    headers = {"Authorization": f"Token {token}"}
    ping = "/api/v1/ping/"
    with processes.web_server(
        DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_TIMEOUT="0.5"
    ) as base:
        requests.get(base + ping, headers=headers, timeout=10).raise_for_status()
        # The test locks the token table: the next request borrows the only connection and
        # waits on the lock with it, so every request after it finds the pool empty.
        with psycopg.connect(pg.dsn()) as lock:
            lock.execute("LOCK TABLE authtoken_token IN ACCESS EXCLUSIVE MODE")
            first = ThreadPoolExecutor(1)
            held = first.submit(requests.get, base + ping, headers=headers, timeout=60)
            pg.wait_for_lock_waiter()
            with ThreadPoolExecutor(6) as pool:
                others = list(
                    pool.map(
                        lambda _: requests.get(base + ping, headers=headers, timeout=30), range(6)
                    )
                )
            lock.rollback()
        answered = held.result(timeout=60)
        first.shutdown()
        after = requests.get(base + ping, headers=headers, timeout=10)

    for response in others:
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        assert response.json() == {
            "detail": "The database is busy; retry in a moment.",
            "code": "database_busy",
        }
        assert response.headers["Retry-After"] == "1"
    assert answered.status_code == 200, answered.text
    assert after.json() == {"ok": True, "user": user.username}


def test_concurrent_load_on_two_processes_never_opens_more_than_their_pools(user):
    """32 clients at once against two web processes whose pools hold at most 2 connections
    each: every answer is a 200 or a 503 `database_busy` (no 500, no "too many clients"), and
    the two never hold more than 2 × 2 connections to the server."""
    token = Token.objects.create(user=user).key
    headers = {"Authorization": f"Token {token}"}
    peak = 0
    stop = threading.Event()

    def sample():
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, _database_connections(pids))
            stop.wait(0.02)

    with processes.web_server(
        processes=2, DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="2", DB_POOL_TIMEOUT="0.2"
    ) as base:
        pids = processes.web_pids(base)
        assert len(pids) == 2, pids
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def client(_):
            with requests.Session() as s:
                s.headers.update(headers)
                return [s.get(f"{base}/api/v1/generations/", timeout=30) for _ in range(15)]

        try:
            with ThreadPoolExecutor(32) as pool:
                answers = [r for batch in pool.map(client, range(32)) for r in batch]
        finally:
            stop.set()
            sampler.join(timeout=5)

    statuses = {r.status_code for r in answers}
    assert statuses <= {200, 503}, statuses
    for response in answers:
        if response.status_code == 503:
            assert response.json()["code"] == "database_busy", response.text
    assert 200 in statuses
    assert peak <= 4, f"{peak} connections from two processes with pools of 2"
