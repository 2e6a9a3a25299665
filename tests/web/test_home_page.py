"""The landing page's hero shows a real clip made by the procedural engine: muted, looping,
inline, over its poster, in a box of the clip's own size; app.js starts it (never with reduced
motion asked for), so the markup has no autoplay and keeps the controls for visitors without it."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.django_db

SAMPLE = Path(settings.BASE_DIR) / "static" / "media-sample"


def hero_video(html: str) -> str:
    return re.search(r"<video[^>]*data-hero-clip[^>]*>", html, re.S).group(0)


def test_the_hero_shows_the_sample_clip_with_its_poster_and_caption(client):
    html = client.get("/").content.decode()

    video = hero_video(html)
    for attribute in ("muted", "loop", "playsinline", "controls"):
        assert re.search(rf"\s{attribute}[\s>]", video), attribute
    assert "autoplay" not in video  # app.js plays it, unless reduced motion is asked for
    assert 'width="576" height="320"' in video
    assert 'poster="/static/media-sample/procedural-sample.jpg"' in video
    assert '<source src="/static/media-sample/procedural-sample.mp4" type="video/mp4">' in html
    assert "Made here by the procedural engine" in html
    assert "scanframe__video" in video


def test_the_sample_clip_is_small_browser_ready_h264():
    from workers.media.encode import ffmpeg_exe

    clip = SAMPLE / "procedural-sample.mp4"
    assert clip.stat().st_size < 400_000
    assert (SAMPLE / "procedural-sample.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(clip)], capture_output=True)
    stream = next(line for line in probe.stderr.decode().splitlines() if "Video:" in line)
    assert "h264" in stream and "yuv420p" in stream and "576x320" in stream, stream
