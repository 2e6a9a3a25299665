"""PostgreSQL helpers for tests that hold the web tier's connections: a DSN for psycopg, and a
wait until some request of the test database waits on a lock the test took."""

from __future__ import annotations

import time

import psycopg

from tests import processes


def dsn() -> str:
    """The test database as a psycopg connection string."""
    return processes.database_url().replace("postgres://", "postgresql://", 1)


def wait_for_lock_waiter(timeout: float = 30) -> None:
    """Until a backend of the test database waits on a lock (the request the test holds)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            ).fetchone()[0]
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("no request ever waited on the lock")
