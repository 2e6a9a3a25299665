"""Reads of generations. Every query is scoped to its owner; another user's id is a 404."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.exceptions import NotFound

from . import eta
from .models import Generation


def generation_list(*, user) -> QuerySet[Generation]:
    return Generation.objects.filter(user=user).order_by("-created_at", "-id")


def generation_get(*, user, generation_id) -> Generation:
    qs = (
        Generation.objects.all() if getattr(user, "is_staff", False) else generation_list(user=user)
    )
    generation = qs.filter(pk=generation_id).first()
    if generation is None:
        raise NotFound("No such generation.")
    return generation


def generation_queue_position(*, generation: Generation) -> int | None:
    """1-based place among queued jobs of the same queue; None once it is no longer queued."""
    if generation.status != Generation.Status.QUEUED:
        return None
    ahead = Generation.objects.filter(
        Q(created_at__lt=generation.created_at)
        | Q(created_at=generation.created_at, id__lt=generation.id),
        queue=generation.queue,
        status=Generation.Status.QUEUED,
    ).count()
    return ahead + 1


def generation_eta_seconds(*, generation: Generation) -> float | None:
    """Seconds until the generation should be done, from measured throughput (apps.generation.eta).

    None once finished, and while there is no measurement for its engine yet.
    """
    return eta.eta_seconds(generation)


def generation_queue_estimates(*, queue: str) -> list[tuple[Generation, int, float | None]]:
    """(generation, 1-based queue position, ETA) for the waiting jobs of `queue`, in order."""
    return eta.queue_estimates(queue)


def generation_queue_standings(
    *, generations: Iterable[Generation]
) -> dict[uuid.UUID, tuple[int, float | None]]:
    """{id: (queue position, ETA)} for the queued ones of `generations`, for a page of a list.

    One estimate per queue (the same schedule as each job's own ETA) instead of one count and
    one estimate per job. A job beyond the estimate's scan is left out: ask it on its own.
    """
    queues = {g.queue for g in generations if g.status == Generation.Status.QUEUED}
    return {
        job.pk: (position, eta_value)
        for queue in sorted(queues)
        for job, position, eta_value in generation_queue_estimates(queue=queue)
    }


def generation_live_list(*, user, recent_seconds: int = 600, limit: int = 50) -> list[Generation]:
    """A user's active generations and those finished in the last `recent_seconds`."""
    since = timezone.now() - timedelta(seconds=recent_seconds)
    return list(
        generation_list(user=user).filter(
            Q(status__in=Generation.ACTIVE) | Q(finished_at__gte=since)
        )[:limit]
    )
