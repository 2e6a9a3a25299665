import os
import time
from pathlib import Path

from apps.web.tasks import extend_frames_cleanup


def test_old_extend_pictures_are_deleted_and_fresh_ones_kept(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    settings.EXTEND_FRAME_MAX_AGE = 3600
    old_user, new_user = tmp_path / "extend" / "1", tmp_path / "extend" / "2"
    old_user.mkdir(parents=True)
    new_user.mkdir(parents=True)
    old = old_user / "a.png"
    fresh = new_user / "b.png"
    stale_too = new_user / "c.png"
    for path in (old, fresh, stale_too):
        path.write_bytes(b"png")
    two_hours_ago = time.time() - 7200
    for path in (old, stale_too):
        os.utime(path, (two_hours_ago, two_hours_ago))

    assert extend_frames_cleanup() == 2

    assert not old_user.exists()  # emptied, so removed
    assert sorted(p.name for p in new_user.iterdir()) == ["b.png"]
    assert extend_frames_cleanup() == 0


def test_nothing_to_clean_when_no_extend_folder(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")

    assert extend_frames_cleanup(max_age_seconds=0) == 0
    assert not Path(settings.MEDIA_ROOT).exists()


def test_the_cleanup_is_scheduled_hourly_and_registered_with_celery():
    from django.conf import settings as django_settings

    from config.celery_app import app

    entry = django_settings.CELERY_BEAT_SCHEDULE["cleanup-extend-frames"]
    assert entry == {"task": "web.cleanup_extend_frames", "schedule": 3600.0}
    app.loader.import_default_modules()
    assert "web.cleanup_extend_frames" in app.tasks
