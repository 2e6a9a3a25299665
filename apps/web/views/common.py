"""Helpers the page views share: the user's own job, or a 404; a job's reusable params."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404

from apps.core.exceptions import NotFound
from apps.generation.models import Generation
from apps.generation.selectors import (
    generation_get,
)
from apps.generation.serializers import (
    PARAMS_SERIALIZERS,
)


def reusable_params(generation: Generation) -> dict:
    """The job's parameters as a new request would send them (no derived keys)."""
    known = PARAMS_SERIALIZERS[generation.kind]().fields
    return {k: v for k, v in generation.params.items() if k in known}


def owned_generation(request, pk) -> Generation | None:
    try:
        return generation_get(user=request.user, generation_id=pk)
    except (NotFound, ValidationError, ValueError):
        return None


def generation_or_404(request, pk) -> Generation:
    try:
        return generation_get(user=request.user, generation_id=pk)
    except NotFound:
        raise Http404("No such generation.")
