"""Views every app's API shares."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt  # nothing happens here: a POST gets the same 404, not a CSRF page
def api_not_found(request, *args, **kwargs) -> JsonResponse:
    """Any path under /api/ that no route takes, a malformed id included: the API's 404 body,
    never the HTML page."""
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
