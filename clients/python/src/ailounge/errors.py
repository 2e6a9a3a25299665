"""Exceptions: every error the API answers becomes an `AILoungeError` carrying its `code`."""

from __future__ import annotations

from typing import Any


class AILoungeError(Exception):
    """An error answered by the API (`status` is the HTTP status) or met on the way to it
    (`status` is None: the server could not be reached, `code` says why).

    `code` and `detail` are the API's own (`{"detail": "...", "code": "..."}`); `fields` holds
    the per-field messages of a validation error and any other keys of the body.
    """

    def __init__(
        self,
        status: int | None,
        code: str,
        detail: str,
        fields: dict[str, Any] | None = None,
    ):
        super().__init__(f"{detail} ({code})" if code else detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.fields = fields or {}


class ValidationError(AILoungeError):
    """400: the request was refused as it stands; `fields` names the bad fields."""


class AuthenticationError(AILoungeError):
    """401/403: no token, an unknown token, or not allowed."""


class InsufficientCredits(AILoungeError):
    """402: the account has too few credits for this job; nothing was charged."""


class NotFound(AILoungeError):
    """404: no such object, or not yours (the API does not tell which)."""


class Conflict(AILoungeError):
    """409: the object is not in a state that allows this (e.g. it already finished)."""


class RateLimited(AILoungeError):
    """429: a limit was reached; `retry_after` is the server's advice in seconds (or None)."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServiceUnavailable(AILoungeError):
    """503: `queue_unavailable` (the job could not be queued; nothing was charged) or
    `database_busy` (every database connection of the web process was in use; retry)."""


class ConnectionFailed(AILoungeError):
    """The server could not be reached (after the retries); `status` is None."""


class GenerationFailed(AILoungeError):
    """Raised by `Generation.raise_for_status()` for a job that ended failed or canceled."""

    def __init__(self, generation: Any):
        status = generation.status or "failed"
        super().__init__(None, status, generation.error or f"The job ended {status}.")
        self.generation = generation


BY_STATUS: dict[int, type[AILoungeError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: AuthenticationError,
    402: InsufficientCredits,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_from_response(status: int, body: Any, headers: Any = None) -> AILoungeError:
    """The exception for an error response (`body`: the decoded JSON, or text)."""
    if isinstance(body, dict):
        detail = str(body.get("detail") or f"HTTP {status}")
        code = str(body.get("code") or "error")
        fields = {k: v for k, v in body.items() if k not in ("detail", "code")}
    else:
        text = (body or "").strip() if isinstance(body, str) else ""
        detail = text[:500] or f"HTTP {status}"
        code = "not_found" if status == 404 else "error"
        fields = {}
    cls = BY_STATUS.get(status, AILoungeError)
    if cls is RateLimited:
        retry_after = None
        raw = (headers or {}).get("Retry-After") if headers is not None else None
        if raw:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        return RateLimited(status, code, detail, fields, retry_after=retry_after)
    return cls(status, code, detail, fields)
