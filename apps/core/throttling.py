"""DRF throttles that count in Redis, so a limit holds across every web process of an install.

Each throttle counts requests in fixed windows (a rate of "30/min" allows 30 requests per
calendar minute per user, or per client address for anonymous requests): one round trip per
request, a MULTI/EXEC of `SET key 0 EX <window + 1> NX` and `INCR key`, on the Redis server the
`throttle` cache alias names (settings.CACHES["throttle"]: its LOCATION and socket timeouts).
The count goes through this process's one client for that server (apps.core.redis), not
through Django's cache object: Django keeps a cache object, with a connection pool of its own,
per thread, and the web tier runs each request in a new thread, so the cache left about one
open Redis connection per three requests. Keys are
`<install prefix>:throttle:<scope>:<who>:<window>` (apps.core.redis.install_key_prefix), so two
installs, or two test runs, sharing one Redis server never count each other's requests, and they
expire with their window. A refused request is a 429 `throttled` whose Retry-After header is the
seconds left in the window (DRF's Throttled, through apps.core.exceptions).

Rates are settings (THROTTLE_RATE_CREATE, THROTTLE_RATE_QUOTE, THROTTLE_RATE_AUTH,
PERSONA_DRAFT_RATE; "" turns one off). While Redis cannot be reached the throttles let requests
through (logged at WARNING, once a minute at most): Redis down already stops the job queue, and
refusing every request on top of it would take the whole site down.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from .redis import install_key_prefix, redis_client_for

logger = logging.getLogger(__name__)
CACHE_ALIAS = "throttle"
_last_warning = 0.0


def throttle_cache_key(key: str, key_prefix: str, version: int) -> str:
    """The `throttle` cache's KEY_FUNCTION: every key under this install's prefix."""
    return f"{install_key_prefix('throttle')}{key}"


def throttle_redis():
    """This process's Redis client for the server settings.CACHES["throttle"] names."""
    config = settings.CACHES[CACHE_ALIAS]
    options = config.get("OPTIONS", {})
    location = config["LOCATION"]
    return redis_client_for(
        location[0] if isinstance(location, list | tuple) else location,
        socket_timeout=options.get("socket_timeout", 1.0),
        socket_connect_timeout=options.get("socket_connect_timeout", 1.0),
    )


class RedisRateThrottle(SimpleRateThrottle):
    """A fixed-window rate per user (or client address), counted in the shared Redis cache.

    Subclasses name a `scope` and the `rate_setting` that holds their rate; `methods` limits the
    throttle to some HTTP methods (e.g. only POST on a list-and-create endpoint).
    """

    rate_setting = ""
    methods: tuple[str, ...] | None = None

    def __init__(self):
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self._wait = None

    def get_rate(self) -> str | None:
        return getattr(settings, self.rate_setting, "") or None

    def get_cache_key(self, request, view) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return f"{self.scope}:{ident}"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        if self.methods is not None and request.method not in self.methods:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = throttle_cache_key(
            f"{self.get_cache_key(request, view)}:{self.duration}:{window}", "", 1
        )
        try:
            pipe = throttle_redis().pipeline(transaction=True)  # (MULTI/EXEC: one round trip)
            pipe.set(key, 0, ex=self.duration + 1, nx=True)
            pipe.incr(key)
            count = pipe.execute()[1]
        except Exception as exc:  # Redis unreachable: let the request through
            _warn_unavailable(exc)
            return True
        if count <= self.num_requests:
            return True
        self._wait = max(1, (window + 1) * self.duration - now)
        return False

    def wait(self) -> float | None:
        return self._wait


def _warn_unavailable(exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning >= 60:
        _last_warning = time.monotonic()
        logger.warning("Throttles off while Redis is unreachable (%s)", exc)


def throttle_reset() -> int:
    """Forget every count of this install (the tests start each test from zero; an operator can
    lift every throttle at once). Returns the number of keys removed."""
    client = throttle_redis()
    keys = list(client.scan_iter(match=f"{install_key_prefix('throttle')}*", count=1000))
    return client.delete(*keys) if keys else 0


class CreateThrottle(RedisRateThrottle):
    """Creating generations (storyboards included): THROTTLE_RATE_CREATE per user."""

    scope = "create"
    rate_setting = "THROTTLE_RATE_CREATE"
    methods = ("POST",)


class QuoteThrottle(RedisRateThrottle):
    """Price quotes: THROTTLE_RATE_QUOTE per user."""

    scope = "quote"
    rate_setting = "THROTTLE_RATE_QUOTE"


class AuthThrottle(RedisRateThrottle):
    """Sign-in attempts for an API token: THROTTLE_RATE_AUTH per client address."""

    scope = "auth"
    rate_setting = "THROTTLE_RATE_AUTH"


class PersonaDraftThrottle(RedisRateThrottle):
    """Persona drafts (each may be a paid Gemini call): PERSONA_DRAFT_RATE per user."""

    scope = "persona_draft"
    rate_setting = "PERSONA_DRAFT_RATE"
