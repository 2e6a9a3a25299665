"""The client retries a create that the web tier could not serve (503 `database_busy`).

A real daphne process on the test database with a pool of one connection: the test locks the
token table, one request borrows the only connection and waits on the lock, and the client's
create finds the pool empty and is answered 503 `database_busy` with Retry-After. The client
waits and sends the same create again (same Idempotency-Key) until the lock is released; then
the job exists once and is charged once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import requests
from ailounge import Client, ServiceUnavailable
from django.db import connection
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.generation.models import Generation
from tests import pg, processes
from tests.clients.conftest import SMALL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="the connection pool is PostgreSQL's"
    ),
]


def _busy_server():
    return processes.web_server(DB_POOL_MIN_SIZE="1", DB_POOL_MAX_SIZE="1", DB_POOL_TIMEOUT="0.3")


def _hold_the_pool(base: str, token: str, lock: psycopg.Connection) -> ThreadPoolExecutor:
    """Lock the token table and send one request that takes the pool's only connection."""
    lock.execute("LOCK TABLE authtoken_token IN ACCESS EXCLUSIVE MODE")
    holder = ThreadPoolExecutor(1)
    holder.submit(
        requests.get,
        f"{base}/api/v1/ping/",
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    pg.wait_for_lock_waiter()
    return holder


def test_a_create_answered_database_busy_is_sent_again_and_charged_once(user):
    token = Token.objects.create(user=user).key
    statuses: list[int] = []
    busy_seen = threading.Event()

    def record(response):
        statuses.append(response.status_code)
        if response.status_code == 503:
            busy_seen.set()

    with _busy_server() as base, psycopg.connect(pg.dsn()) as lock:
        holder = _hold_the_pool(base, token, lock)
        with Client(base, token, retries=8, backoff=0.1) as client:
            client._http.event_hooks["response"].append(record)
            with ThreadPoolExecutor(1) as pool:
                created = pool.submit(
                    client.generate,
                    kind="text_to_video",
                    prompt="a harbour",
                    params=SMALL,
                    wait=False,
                )
                assert busy_seen.wait(30), "the create was never answered 503"
                lock.rollback()  # the held request goes on, and gives the connection back
                job = created.result(timeout=60)
        holder.shutdown()

    assert statuses[0] == 503 and statuses[-1] == 201, statuses
    assert Generation.objects.filter(user=user).count() == 1
    assert str(Generation.objects.get(user=user).pk) == job.id
    spends = LedgerEntry.objects.filter(account__user=user, kind="spend")
    assert spends.count() == 1


def test_the_client_gives_up_with_the_api_code_when_the_database_stays_busy(user):
    token = Token.objects.create(user=user).key
    with _busy_server() as base, psycopg.connect(pg.dsn()) as lock:
        holder = _hold_the_pool(base, token, lock)
        with (
            Client(base, token, retries=1, backoff=0.1) as client,
            pytest.raises(ServiceUnavailable) as raised,
        ):
            client.generate(kind="text_to_video", prompt="a harbour", params=SMALL, wait=False)
        lock.rollback()
        holder.shutdown()

    assert raised.value.code == "database_busy"
    assert not Generation.objects.filter(user=user).exists()
    assert not LedgerEntry.objects.filter(account__user=user, kind="spend").exists()
