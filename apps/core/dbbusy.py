"""A database with no connection to give is a 503 `database_busy`, never a 500.

With Django's PostgreSQL pool (DATABASES OPTIONS["pool"], config/settings/base.py) a request
that finds every connection of its process lent out waits DB_POOL_TIMEOUT seconds, then
psycopg-pool raises `PoolTimeout`; a server out of connections ("too many clients already",
SQLSTATE 53300) or one refusing new ones while it starts or stops (57P03) is the same situation
seen from the other side. All are transient, so the answer is the one a client can act on:
503 with `Retry-After` and the API's error body, `{"detail", "code": "database_busy"}` (a short
text page outside /api/). Any other database error stays a 500.

The middleware only has `process_exception`, so it costs nothing on a request that succeeds;
it is last in MIDDLEWARE, so it sees the view's exception before any other middleware. DRF
re-raises exceptions its handler does not know, so API views reach it too.
"""

from __future__ import annotations

import logging

from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

try:
    from psycopg_pool import PoolTimeout
except ImportError:  # an install on SQLite only
    PoolTimeout = None

logger = logging.getLogger(__name__)

BUSY_DETAIL = "The database is busy; retry in a moment."
BUSY_CODE = "database_busy"
# SQLSTATEs of a server that cannot take one more connection right now.
BUSY_SQLSTATES = frozenset({"53300", "57P03"})
# A pool waits DB_POOL_TIMEOUT seconds before it gives up, so the queue was full for that long;
# a second is long enough for a client to back off and short enough to retry soon.
RETRY_AFTER_SECONDS = 1


def is_database_busy(exc: BaseException) -> bool:
    """Whether `exc` (Django's wrapper or the driver's error) says no connection could be had."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if PoolTimeout is not None and isinstance(current, PoolTimeout):
            return True
        if getattr(current, "sqlstate", None) in BUSY_SQLSTATES:
            return True
        current = current.__cause__ or current.__context__
    return False


class DatabaseBusyMiddleware(MiddlewareMixin):
    def process_exception(self, request, exception):
        if not isinstance(exception, OperationalError) or not is_database_busy(exception):
            return None
        logger.warning("Database busy on %s %s: %s", request.method, request.path, exception)
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": BUSY_DETAIL, "code": BUSY_CODE}, status=503)
        else:
            response = HttpResponse(
                BUSY_DETAIL, status=503, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response["Cache-Control"] = "no-store"
        # Logged above at WARNING: Django's own ERROR line for a 5xx is skipped.
        response._has_been_logged = True
        return response
