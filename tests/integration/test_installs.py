"""Two installs on one Redis server keep their live events to themselves.

Redis pub/sub ignores the database number: two installs whose REDIS_URLs differ only in it
share every pub/sub channel. Each install's default channel layer prefix is derived from its
database and its Redis database (config/settings/base.py, install_prefix), so their groups
differ even for the same user id. Here two real daphne processes play two installs: two
database files holding the same user, REDIS_URL databases 11 and 13, no prefix set.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.authtoken.models import Token

from apps.generation.models import Generation
from tests import processes
from tests.integration.test_live_progress import Subscriber, ws_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

GRACE = 1.0  # seconds a socket is watched for an event that must not come

SEND = """
import sys
from contextlib import closing
import django

django.setup()
from apps.generation.events import generation_broadcast
from apps.generation.models import Generation

generation_id, status = sys.argv[1], sys.argv[2]
Generation.objects.filter(pk=generation_id).update(status=status, error=f"{status} here")
generation_broadcast(generation_id=generation_id, finished=True)
"""


def redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{db}"))


def install_env(*, database_url: str, redis_url: str) -> dict[str, str]:
    """One install's environment: its database and Redis, and no CHANNEL_LAYER_PREFIX."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "TEST_INSTALL_PREFIX": "true",
    }


def b_env(database_url: str) -> dict[str, str]:
    return install_env(database_url=database_url, redis_url=redis_db(settings.REDIS_URL, 13))


def send_finished(env: dict[str, str], generation_id, status: str) -> None:
    """The platform's own broadcast, from a process of that install (as a worker sends it)."""
    subprocess.run(
        [sys.executable, "-c", SEND, str(generation_id), status],
        cwd=processes.ROOT,
        env=processes.process_env(**env),
        check=True,
        timeout=60,
    )


@contextmanager
def database_copy(tmp_path: Path):
    """A copy of the test database (same users, tokens, jobs): another install's own database.
    SQLite: a file copy. PostgreSQL: a database made from the test one as its template (which
    needs this process's connection closed meanwhile), dropped at the end. Yields its URL."""
    if connection.vendor == "sqlite":
        target = tmp_path / "install-b.sqlite3"
        with (
            closing(sqlite3.connect(connection.settings_dict["NAME"])) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        yield f"sqlite:///{target}"
        return
    import psycopg

    source = connection.settings_dict["NAME"]
    name = f"{source}_install_b"
    admin_url = processes.database_url().rsplit("/", 1)[0] + "/postgres"
    connection.close()
    if connection.pool is not None:
        connection.close_pool()  # a pooled connection stays open after close()
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    try:
        yield processes.database_url().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_installs_on_one_redis_never_hear_each_others_events(user, tmp_path):
    generation = Generation.objects.create(
        user=user, kind="text_to_video", engine="procedural", prompt="a harbour at night"
    )
    token = Token.objects.get_or_create(user=user)[0].key
    a = install_env(
        database_url=processes.database_url(), redis_url=redis_db(settings.REDIS_URL, 11)
    )
    with (
        database_copy(tmp_path) as b_database,
        processes.web_server(**a) as web_a,
        processes.web_server(
            **install_env(database_url=b_database, redis_url=redis_db(settings.REDIS_URL, 13))
        ) as web_b,
        Subscriber(ws_url(web_a, "/ws/me/"), token=token, origin=web_a) as on_a,
        Subscriber(ws_url(web_b, "/ws/me/"), token=token, origin=web_b) as on_b,
    ):
        for sub in (on_a, on_b):
            snapshot = sub.next(lambda e: e["type"] == "snapshot", timeout=30)
            assert [g["id"] for g in snapshot["generations"]] == [str(generation.pk)]

        send_finished(a, generation.pk, "succeeded")
        event = on_a.next(timeout=30)
        assert (event["type"], event["status"]) == ("finished", "succeeded"), on_a.seen

        # B's socket is subscribed and working: its own install's event reaches it, and
        # nothing of A's came before it (one subscriber connection delivers in order).
        send_finished(b_env(b_database), generation.pk, "failed")
        event = on_b.next(timeout=30)
        assert (event["type"], event["status"]) == ("finished", "failed"), on_b.seen
        assert event["error"] == "failed here"

        # And nothing of B's reaches A.
        with pytest.raises(AssertionError, match="no matching event"):
            leaked = on_a.next(timeout=GRACE)
            pytest.fail(f"install A heard install B: {leaked}")
