"""Settings derived from the environment: the install's Redis namespace (CHANNEL_LAYER_PREFIX)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from config.settings.base import install_prefix
from tests.processes import ROOT

SQLITE = {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/lounge/db.sqlite3"}
POSTGRES = {
    "ENGINE": "django.db.backends.postgresql",
    "NAME": "ailounge",
    "HOST": "db.internal",
    "PORT": 5432,
}


def test_the_default_prefix_is_short_printable_and_stable():
    prefix = install_prefix(database=POSTGRES, redis_url="redis://127.0.0.1:6379/0")
    assert re.fullmatch(r"ailounge-[0-9a-f]{12}:", prefix)
    assert prefix == install_prefix(database=dict(POSTGRES), redis_url="redis://127.0.0.1:6379/0")


def test_installs_on_one_redis_server_get_different_prefixes():
    on_db = {
        db: install_prefix(database=POSTGRES, redis_url=f"redis://127.0.0.1:6379/{db}")
        for db in (0, 11, 13)
    }
    assert len(set(on_db.values())) == 3
    other_database = {**POSTGRES, "NAME": "ailounge_staging"}
    assert install_prefix(database=other_database, redis_url="redis://127.0.0.1:6379/0") != on_db[0]
    assert install_prefix(database=SQLITE, redis_url="redis://127.0.0.1:6379/0") != on_db[0]


def test_the_same_redis_database_spelled_two_ways_is_one_install():
    plain = install_prefix(database=SQLITE, redis_url="redis://127.0.0.1:6379/0")
    assert install_prefix(database=SQLITE, redis_url="redis://127.0.0.1") == plain
    assert install_prefix(database=SQLITE, redis_url="redis://:secret@127.0.0.1:6379/0") == plain
    assert install_prefix(database=SQLITE, redis_url="redis://127.0.0.1:6379?db=0") == plain


def _layer_prefix(**env: str) -> str:
    """The channel layer's prefix as a fresh process with config.settings.local sees it."""
    code = (
        "import json, django; from django.conf import settings; django.setup();"
        "print(json.dumps(settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']))"
    )
    base_env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base_env, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_web_and_worker_of_one_install_derive_one_prefix_and_it_can_be_set(tmp_path):
    install = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:6379/11",
    }
    first, again = _layer_prefix(**install), _layer_prefix(**install)
    assert first == again
    assert first == install_prefix(
        database={"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")},
        redis_url="redis://127.0.0.1:6379/11",
    )
    assert _layer_prefix(**{**install, "REDIS_URL": "redis://127.0.0.1:6379/13"}) != first
    assert _layer_prefix(**install, CHANNEL_LAYER_PREFIX="lounge-prod:") == "lounge-prod:"
