"""pytest settings: fast hashing, a file-backed SQLite test DB (shared with worker processes).

Every name a test run shares with its worker/web subprocesses (test database, media folder,
Redis key prefixes) carries TEST_RUN_ID, so two test runs on one machine never collide.
"""

import os

from .base import *  # noqa: F403
from .base import (
    CELERY_BROKER_TRANSPORT_OPTIONS,
    CHANNEL_LAYER_BACKEND,
    DATABASES,
    MEDIA_STORAGE,
    VAR_DIR,
    env,
    media_storage,
)

TEST_RUN_ID = env("TEST_RUN_ID", default=str(os.getpid()))
os.environ["TEST_RUN_ID"] = TEST_RUN_ID  # inherited by the processes the tests start

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
STATIC_ROOT = str(VAR_DIR / "test-static")
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / f"test-media-{TEST_RUN_ID}"))
STORAGES = {
    "default": media_storage(MEDIA_STORAGE),  # local unless a test's processes ask for s3
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/14")
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_BROKER_TRANSPORT_OPTIONS,
    "global_keyprefix": f"test-{TEST_RUN_ID}:",
}
# A prefix per test run; processes started with TEST_INSTALL_PREFIX=true play an install
# instead (tests/integration/test_installs.py): the default prefix, derived as base.py does.
CHANNEL_LAYER_PREFIX = f"asgi-test-{TEST_RUN_ID}:"
if env.bool("TEST_INSTALL_PREFIX", default=False):
    CHANNEL_LAYER_PREFIX = install_prefix(database=DATABASES["default"], redis_url=REDIS_URL)  # noqa: F405
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": CHANNEL_LAYER_BACKEND,
        "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_LAYER_PREFIX},
    }
}
FREE_CREDITS = env.int("FREE_CREDITS", default=50)
# The throttles count in this run's Redis database under this run's prefix (apps.core.throttling;
# tests/conftest.py empties them before each test). Rates high enough that no test trips one
# unless it lowers them (tests/limits/); processes a test starts take theirs from the env.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_FUNCTION": "apps.core.throttling.throttle_cache_key",
        "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
    },
}
THROTTLE_RATE_CREATE = env("THROTTLE_RATE_CREATE", default="10000/min")
THROTTLE_RATE_QUOTE = env("THROTTLE_RATE_QUOTE", default="10000/min")
THROTTLE_RATE_AUTH = env("THROTTLE_RATE_AUTH", default="10000/min")
# Likewise the cap on a user's active jobs (tests make many queued jobs with no worker).
MAX_ACTIVE_GENERATIONS_PER_USER = env.int("MAX_ACTIVE_GENERATIONS_PER_USER", default=1000)
# Webhooks go to the tests' own receivers on 127.0.0.1.
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=True)
GENERATION_ENGINE = env("GENERATION_ENGINE", default="auto")
GENERATION_PROGRESS_MIN_INTERVAL = env.float("GENERATION_PROGRESS_MIN_INTERVAL", default=0.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not :memory:, so a worker subprocess can open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{TEST_RUN_ID}.sqlite3")}
else:
    DATABASES["default"]["TEST"] = {"NAME": f"test_ailounge_{TEST_RUN_ID}"}
# Serve static files straight from the app and project folders (no collectstatic needed).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
