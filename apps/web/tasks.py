"""Housekeeping for the pages' own files."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apps.core.storage import media_listdir, media_prune_empty, media_storage

from .views.extend import EXTEND_DIR


def extend_frames_cleanup(*, max_age_seconds: float | None = None) -> int:
    """Delete "Extend" pictures older than ``EXTEND_FRAME_MAX_AGE`` seconds; return how many.

    An Extend saves a finished video's last frame for the create page; once the user has made
    the new clip (the picture is copied into the generation's own upload) or walked away, it is
    not needed. Empty per-user folders go too. Works through the storage API, on either backend.
    """
    max_age = settings.EXTEND_FRAME_MAX_AGE if max_age_seconds is None else max_age_seconds
    cutoff = timezone.now() - timedelta(seconds=max_age)
    storage = media_storage()
    removed = 0
    for folder in media_listdir(EXTEND_DIR)[0]:
        prefix = f"{EXTEND_DIR}/{folder}"
        for picture in media_listdir(prefix)[1]:
            if not picture.endswith(".png"):
                continue
            name = f"{prefix}/{picture}"
            try:
                if storage.get_modified_time(name) < cutoff:
                    storage.delete(name)
                    removed += 1
            except FileNotFoundError:
                continue
        media_prune_empty(prefix)
    return removed


@shared_task(name="web.cleanup_extend_frames", ignore_result=True)
def extend_frames_cleanup_task() -> int:
    return extend_frames_cleanup()
