"""Quality presets: the spec's values reach ffmpeg, and each renders at its size, rate, codec."""

from __future__ import annotations

import dataclasses

import pytest

from tests.workers.storyboard.media_files import write_clip
from workers.media.probe import faststart, probe
from workers.storyboard.assemble import ClipSpec, assemble_storyboard, plan_assembly
from workers.storyboard.presets import QUALITY_PRESETS, TRANSITIONS, XFADE, get_preset


def test_presets_are_the_specs():
    table = {name: (p.width, p.height, p.fps, p.crf) for name, p in QUALITY_PRESETS.items()}

    assert table == {
        "draft": (854, 480, 24, 28),
        "standard": (1280, 720, 30, 23),
        "high": (1920, 1080, 30, 20),
        "premium": (3840, 2160, 60, 18),
    }


def test_transitions_map_to_xfade():
    assert TRANSITIONS == ("cut", "fade", "crossfade", "wipe", "slide", "zoom", "dissolve")
    assert XFADE == {
        "cut": None,
        "fade": "fadeblack",
        "crossfade": "fade",
        "wipe": "wipeleft",
        "slide": "slideleft",
        "zoom": "zoomin",
        "dissolve": "dissolve",
    }


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="draft, standard, high, premium"):
        get_preset("ultra")


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    write_clip(path, width=160, height=90, fps=24, seconds=1.0)
    return path


@pytest.mark.parametrize("name", list(QUALITY_PRESETS))
def test_each_presets_parameters_reach_the_ffmpeg_command(tmp_path, clip, name):
    preset = QUALITY_PRESETS[name]

    plan = plan_assembly(
        clips=[ClipSpec(clip, "crossfade"), ClipSpec(clip)],
        preset=preset,
        out_path=tmp_path / "out.mp4",
    )

    command = plan.command
    graph = command[command.index("-filter_complex") + 1]
    assert f"scale={preset.width}:{preset.height}:force_original_aspect_ratio=decrease" in graph
    assert f"pad={preset.width}:{preset.height}:" in graph
    assert f"fps={preset.fps}" in graph
    assert command[command.index("-crf") + 1] == str(preset.crf)
    assert command[command.index("-c:v") + 1] == "libx264"
    assert command[command.index("-pix_fmt") + 1] == "yuv420p"
    assert "+faststart" in command
    assert plan.timeline.fps == preset.fps


def test_draft_renders_at_its_real_size_and_rate(tmp_path, clip):
    out = tmp_path / "draft.mp4"

    result = assemble_storyboard(
        clips=[ClipSpec(clip, "dissolve"), ClipSpec(clip)],
        preset=QUALITY_PRESETS["draft"],
        transition_duration=0.25,
        out_path=out,
    )

    info = probe(out)
    assert (info.width, info.height, info.codec, info.pix_fmt) == (854, 480, "h264", "yuv420p")
    assert info.fps == pytest.approx(24)
    assert result.num_frames == info.num_frames == 48 - 6
    assert faststart(out)
    assert b"crf=28.0" in out.read_bytes()  # x264 records its settings in the stream


@pytest.mark.parametrize("name", ["standard", "high", "premium"])
def test_larger_presets_render_their_rate_and_quality_at_test_size(tmp_path, clip, name):
    preset = dataclasses.replace(QUALITY_PRESETS[name], width=192, height=108)
    out = tmp_path / f"{name}.mp4"

    result = assemble_storyboard(
        clips=[ClipSpec(clip, "wipe"), ClipSpec(clip)],
        preset=preset,
        transition_duration=0.2,
        out_path=out,
    )

    info = probe(out)
    overlap = round(0.2 * preset.fps)
    assert (info.width, info.height, info.codec) == (192, 108, "h264")
    assert info.fps == pytest.approx(preset.fps)
    assert result.num_frames == info.num_frames == 2 * preset.fps - overlap
    assert f"crf={preset.crf}.0".encode() in out.read_bytes()
