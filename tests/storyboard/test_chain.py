"""AnchoredEngine: a chained clip starts exactly on the handed-over frame, then the engine's."""

from __future__ import annotations

import numpy as np
from PIL import Image

from workers.engines.base import VideoRequest
from workers.engines.procedural import ProceduralEngine
from workers.storyboard.chain import AnchoredEngine


def test_anchored_clip_starts_on_the_image_and_ends_on_the_engine_frames(tmp_path):
    rng = np.random.default_rng(3)
    anchor = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
    path = tmp_path / "handover.png"
    Image.fromarray(anchor).save(path)
    request = VideoRequest(
        kind="image_to_video", image_path=str(path), width=128, height=96, fps=8, num_frames=12
    )
    steps = []
    plain = list(ProceduralEngine().generate(request, progress=lambda *a: None).frames)
    clip = AnchoredEngine(ProceduralEngine(), path, blend_frames=4).generate(
        request, progress=lambda *a: steps.append(a)
    )
    frames = list(clip.frames)
    assert clip.num_frames == len(frames) == 12 and clip.engine == "procedural"
    assert np.array_equal(frames[0], anchor)
    assert not np.array_equal(plain[0], anchor)  # the engine alone does not start there
    for i in range(4, 12):
        assert np.array_equal(frames[i], plain[i])
    # The blend moves steadily from the anchor towards the engine's frames.
    gaps = [np.abs(frames[i].astype(int) - plain[i].astype(int)).mean() for i in range(4)]
    assert gaps == sorted(gaps, reverse=True)
    assert len(steps) == 12  # progress still comes from the engine, once per frame
    assert "chained" in clip.notes[-1]


def test_handover_of_another_size_is_fitted_not_stretched(tmp_path):
    path = tmp_path / "wide.png"
    wide = np.zeros((50, 200, 3), np.uint8)
    wide[:, 75:125] = 255  # a white band in the middle only
    Image.fromarray(wide).save(path)
    request = VideoRequest(
        kind="image_to_video", image_path=str(path), width=64, height=64, fps=8, num_frames=6
    )
    first = next(
        iter(
            AnchoredEngine(ProceduralEngine(), path)
            .generate(request, progress=lambda *a: None)
            .frames
        )
    )
    assert first.shape == (64, 64, 3)
    assert first[:, 24:40].mean() > 200  # the centre crop kept the band's proportions
