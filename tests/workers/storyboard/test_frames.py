"""First/last frame extraction, and chaining: scene 2 starts where scene 1 ended."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.workers.storyboard.media_files import decode_video, distance, write_clip
from workers.media.encode import encode_frames
from workers.storyboard.frames import extract_first_frame, extract_last_frame


def _png(path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def test_last_frame_is_the_clips_last_frame(tmp_path):
    clip = tmp_path / "clip.mp4"
    sources = write_clip(clip, seconds=3.0, fps=24)  # a bar moves: every frame differs
    out = tmp_path / "last.png"

    assert extract_last_frame(clip, out) == out

    last = _png(out)
    assert last.shape == sources[-1].shape
    assert distance(last, sources[-1]) < 3  # encoding error only
    assert distance(last, sources[-1]) < distance(last, sources[-2]) / 2
    assert np.array_equal(last, decode_video(clip)[-1])  # exactly the last decoded frame


def test_first_frame_is_the_clips_first_frame(tmp_path):
    clip = tmp_path / "clip.mp4"
    sources = write_clip(clip, seconds=1.0, fps=24)
    out = tmp_path / "first.png"

    extract_first_frame(clip, out)

    first = _png(out)
    assert distance(first, sources[0]) < 3
    assert distance(first, sources[0]) < distance(first, sources[1]) / 2


def test_a_chained_scene_starts_from_the_last_frame_of_the_one_before(tmp_path):
    scene1 = tmp_path / "scene1.mp4"
    sources = write_clip(scene1, seconds=1.0, fps=24)
    handover = extract_last_frame(scene1, tmp_path / "handover.png")

    # Scene 2: what an image-to-video engine does with its start image, in small: the image
    # first, then frames that move away from it.
    start = _png(handover)
    frames = [np.roll(start, shift=2 * i, axis=1) for i in range(12)]
    scene2 = tmp_path / "scene2.mp4"
    encode_frames(frames, path=scene2, width=160, height=90, fps=24)
    first = _png(extract_first_frame(scene2, tmp_path / "scene2-first.png"))

    assert distance(first, sources[-1]) < 4  # two encodes' worth of error


def test_not_a_video_is_refused(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 100)

    with pytest.raises(ValueError, match="junk.mp4"):
        extract_last_frame(junk, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
