"""Housekeeping for the pages' own files."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task
from django.conf import settings

from .views.extend import EXTEND_DIR


def extend_frames_cleanup(*, max_age_seconds: float | None = None) -> int:
    """Delete "Extend" pictures older than ``EXTEND_FRAME_MAX_AGE`` seconds; return how many.

    An Extend saves a finished video's last frame for the create page; once the user has made
    the new clip (the picture is copied into the generation's own upload) or walked away, it is
    not needed. Empty per-user folders go too.
    """
    max_age = settings.EXTEND_FRAME_MAX_AGE if max_age_seconds is None else max_age_seconds
    root = Path(settings.MEDIA_ROOT) / EXTEND_DIR
    if not root.is_dir():
        return 0
    cutoff = time.time() - max_age
    removed = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        for picture in folder.glob("*.png"):
            try:
                if picture.stat().st_mtime < cutoff:
                    picture.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        if not any(folder.iterdir()):
            folder.rmdir()
    return removed


@shared_task(name="web.cleanup_extend_frames", ignore_result=True)
def extend_frames_cleanup_task() -> int:
    return extend_frames_cleanup()
