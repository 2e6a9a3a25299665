"""Domain errors and the one DRF exception handler that shapes every API error.

Every error the API returns is `{"detail": "...", "code": "..."}`; validation errors add the
field errors beside them. Domain code raises `ApplicationError` subclasses and never imports DRF.

A `ServiceUnavailable` (503: a feature this server has not configured, such as Stripe) is an
expected answer: it is logged once at WARNING, where Django would log any 5xx at ERROR. Every
other 5xx still reaches Django's ERROR log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.log import log_response
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A failure the user can act on. `status_code` picks the HTTP status in the API."""

    status_code = 400
    default_code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    default_code = "conflict"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    default_code = "unavailable"


def request_refusal(exc: SuspiciousOperation | None) -> tuple[int, str, str]:
    """(status, detail, code) for a request Django refused while reading it."""
    if isinstance(exc, RequestDataTooBig):
        limit_mb = (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) // (1024 * 1024)
        return 413, f"The request body is larger than {limit_mb} MB.", "request_too_large"
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return 400, f"The request has more than {limit} form fields.", "too_many_fields"
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return 400, f"The request has more than {limit} files.", "too_many_files"
    return 400, "The request is malformed.", "bad_request"


def first_message(data: Any) -> str:
    if isinstance(data, dict):
        for key, value in data.items():
            msg = first_message(value)
            if msg:
                return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
    elif isinstance(data, list) and data:
        return first_message(data[0])
    elif data:
        return str(data)
    return ""


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        body = {"detail": exc.message, "code": exc.code, **exc.extra}
        response = Response(body, status=exc.status_code)
        if getattr(exc, "retry_after", None):  # e.g. a daily spend limit: when it resets
            response["Retry-After"] = str(exc.retry_after)
        request = getattr(context.get("request"), "_request", None)  # the HttpRequest
        if isinstance(exc, ServiceUnavailable) and request is not None:
            # Marks the response `_has_been_logged`, so Django's own ERROR line is skipped.
            log_response(
                "%s (%s): %s",
                response.status_text,
                exc.code,
                request.path,
                response=response,
                request=request,
                level="warning",
            )
        return response
    if isinstance(exc, SuspiciousOperation):
        status_code, detail, code = request_refusal(exc)
        # Where Django logs it outside a view, at WARNING: a client's mistake, no traceback.
        logging.getLogger(f"django.security.{type(exc).__name__}").warning("%s", exc)
        return Response({"detail": detail, "code": code}, status=status_code)
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        fields = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        response.data = {
            "detail": first_message(fields) or "Invalid input.",
            "code": "invalid",
            **{k: v for k, v in fields.items() if k != "detail"},
        }
        response.status_code = status.HTTP_400_BAD_REQUEST
    elif isinstance(response.data, dict) and "detail" in response.data:
        detail = response.data["detail"]
        response.data = {
            "detail": str(detail),
            "code": getattr(detail, "code", None) or getattr(exc, "default_code", "error"),
        }
    return response
