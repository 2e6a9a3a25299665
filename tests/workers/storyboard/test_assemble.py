"""assemble_storyboard: transitions, the timeline formula, conforming, narration sync, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tests.workers.storyboard.media_files import (
    BLUE,
    GREEN,
    RED,
    WHITE,
    audio_seconds,
    colour_distance,
    decode_audio,
    decode_video,
    distance,
    write_clip,
    write_tone,
)
from workers.engines.base import GenerationCanceled
from workers.media.probe import faststart, probe
from workers.storyboard.assemble import (
    AssemblyError,
    ClipSpec,
    assemble_storyboard,
    plan_assembly,
    plan_timeline,
)
from workers.storyboard.presets import TRANSITIONS

FPS = 24


@pytest.fixture
def three_clips(tmp_path):
    """Three 1 s still clips at 24 fps: red, green and blue, each with a white square."""
    paths = []
    for name, colour in (("red", RED), ("green", GREEN), ("blue", BLUE)):
        path = tmp_path / f"{name}.mp4"
        write_clip(path, seconds=1.0, fps=FPS, colour=colour, bar=False, square=True)
        paths.append(path)
    return paths


def expected_frames(scene_frames: list[int], transitions: list[str], overlap: int) -> int:
    """The documented formula, written out: sum of scenes minus one overlap per non-cut."""
    return sum(scene_frames) - sum(overlap for t in transitions if t != "cut")


@pytest.mark.parametrize("transition", TRANSITIONS)
def test_each_transition_renders_with_the_documented_length(
    tmp_path, three_clips, small_preset, transition
):
    out = tmp_path / "story.mp4"
    clips = [ClipSpec(path, transition_to_next=transition) for path in three_clips]

    result = assemble_storyboard(
        clips=clips, preset=small_preset, transition_duration=0.25, out_path=out
    )

    overlap = round(0.25 * FPS)  # 6 frames
    frames = expected_frames([24, 24, 24], [transition] * 2, overlap)
    info = probe(out)
    decoded = decode_video(out)
    assert result.num_frames == info.num_frames == len(decoded) == frames
    assert result.duration == pytest.approx(frames / FPS)
    assert info.duration == pytest.approx(frames / FPS, abs=1e-3)
    assert not result.has_audio

    # Scene 1 is untouched before the transition and scene 2 after it.
    red, green = decode_video(three_clips[0])[0], decode_video(three_clips[1])[0]
    start = 24 - (0 if transition == "cut" else overlap)
    assert distance(decoded[start - 1], red) < 3
    assert distance(decoded[start + overlap], green) < 3
    if transition != "cut":
        # Halfway through, the picture is neither scene: the transition is drawn.
        middle = decoded[start + overlap // 2]
        assert distance(middle, red) > 6
        assert distance(middle, green) > 6


def test_fade_goes_through_black_and_crossfade_blends_directly(tmp_path, three_clips, small_preset):
    middles = {}
    for transition in ("fade", "crossfade"):
        out = tmp_path / f"{transition}.mp4"
        clips = [ClipSpec(p, transition, duration=2.0) for p in three_clips[:2]]
        assemble_storyboard(clips=clips, preset=small_preset, transition_duration=0.5, out_path=out)
        decoded = decode_video(out)
        # The middle of the 12-frame overlap; the bottom right quarter has no white square.
        middles[transition] = decoded[48 - 12 + 6][45:, 80:]

    assert middles["fade"].mean() < 25  # black at the midpoint
    blend = (np.array(RED) + np.array(GREEN)) / 2
    assert colour_distance(middles["crossfade"], blend) < 8


def test_mixed_transitions_and_scene_durations_follow_the_timeline(
    tmp_path, three_clips, small_preset
):
    clips = [
        ClipSpec(three_clips[0], "wipe", duration=1.5),  # longer than the clip: held
        ClipSpec(three_clips[1], "cut", duration=0.5),  # shorter: trimmed
        ClipSpec(three_clips[2], "dissolve"),  # its own length, 1 s
        ClipSpec(three_clips[0], "zoom", duration=2.0),  # the same clip twice
    ]
    out = tmp_path / "mixed.mp4"

    result = assemble_storyboard(
        clips=clips, preset=small_preset, transition_duration=0.5, out_path=out
    )

    # Scenes of 36, 12, 24 and 48 frames; 0.5 s asks for 12-frame overlaps. wipe: clamped
    # below half of the 12-frame scene → 5. cut: 0. dissolve: below half of 24 → 11.
    frames = 36 + 12 + 24 + 48 - 5 - 0 - 11
    assert result.num_frames == len(decode_video(out)) == frames
    timeline = plan_timeline(
        durations=[1.5, 0.5, 1.0, 2.0],
        transitions=["wipe", "cut", "dissolve"],
        transition_duration=0.5,
        fps=FPS,
    )
    assert timeline.overlap_frames == (5, 0, 11)
    assert timeline.num_frames == frames
    assert timeline.scene_start_frames == (0, 31, 43, 56)


def test_a_short_clip_holds_its_last_frame_to_the_scene_duration(tmp_path, small_preset):
    clip = tmp_path / "bar.mp4"
    sources = write_clip(clip, seconds=0.5, fps=FPS)  # a moving bar: every frame differs
    out = tmp_path / "held.mp4"

    assemble_storyboard(clips=[ClipSpec(clip, duration=2.0)], preset=small_preset, out_path=out)

    decoded = decode_video(out)
    assert len(decoded) == 48
    last = sources[-1].astype(np.int16)
    for frame in decoded[12:]:
        assert np.abs(frame.astype(np.int16) - last).mean() < 3


def test_transition_longer_than_half_a_scene_is_clamped():
    timeline = plan_timeline(
        durations=[1.0, 0.25, 1.0], transitions=["fade", "slide"], transition_duration=5.0, fps=24
    )

    # 6-frame middle scene: each transition keeps below half of it (2 frames), so they never meet.
    assert timeline.scene_frames == (24, 6, 24)
    assert timeline.overlap_frames == (2, 2)
    assert timeline.num_frames == 24 + 6 + 24 - 4
    assert timeline.duration == pytest.approx(50 / 24)


def test_a_transition_with_no_room_becomes_a_cut():
    timeline = plan_timeline(
        durations=[1.0, 1 / 24], transitions=["crossfade"], transition_duration=0.5, fps=24
    )

    assert timeline.transitions == ("cut",)
    assert timeline.overlap_frames == (0,)
    assert timeline.num_frames == 25


def test_zero_transition_duration_makes_every_transition_a_cut():
    timeline = plan_timeline(
        durations=[1.0, 1.0], transitions=["wipe"], transition_duration=0, fps=30
    )

    assert timeline.transitions == ("cut",)
    assert timeline.num_frames == 60


def test_other_frame_rates_are_converted(tmp_path, small_preset):
    clip25 = tmp_path / "pal.mp4"
    clip60 = tmp_path / "fast.mp4"
    write_clip(clip25, seconds=1.0, fps=25)
    write_clip(clip60, seconds=1.0, fps=60, colour=GREEN)
    out = tmp_path / "out.mp4"
    preset = dataclasses.replace(small_preset, fps=30)

    result = assemble_storyboard(
        clips=[ClipSpec(clip25, "crossfade"), ClipSpec(clip60)],
        preset=preset,
        transition_duration=0.2,
        out_path=out,
    )

    assert result.fps == pytest.approx(30)
    assert result.num_frames == len(decode_video(out)) == 30 + 30 - 6


def test_a_4_3_clip_is_pillarboxed_into_16_9_not_stretched(tmp_path, small_preset):
    clip = tmp_path / "square-ish.mp4"
    write_clip(clip, width=120, height=90, colour=WHITE, bar=False)  # 4:3
    out = tmp_path / "wide.mp4"

    assemble_storyboard(clips=[ClipSpec(clip)], preset=small_preset, out_path=out)

    frame = decode_video(out)[5]
    assert frame.shape == (90, 160, 3)
    columns = frame.mean(axis=(0, 2))
    assert columns[:18].max() < 20 and columns[-18:].max() < 20  # black bars, 20 px each side
    assert columns[22:138].min() > 235  # the picture keeps its width: 120 px, not 160
    assert int((columns > 128).sum()) == pytest.approx(120, abs=2)


def test_a_wide_clip_is_letterboxed_into_a_taller_preset(tmp_path, small_preset):
    clip = tmp_path / "wide.mp4"
    write_clip(clip, width=160, height=60, colour=WHITE, bar=False)  # 8:3
    out = tmp_path / "boxed.mp4"
    preset = dataclasses.replace(small_preset, width=120, height=90)

    assemble_storyboard(clips=[ClipSpec(clip)], preset=preset, out_path=out)

    rows = decode_video(out)[0].mean(axis=(1, 2))
    assert rows[:15].max() < 20 and rows[-15:].max() < 20
    assert int((rows > 128).sum()) == pytest.approx(45, abs=2)  # 120 x 45 keeps 8:3


def test_output_is_browser_playable_h264_with_faststart(tmp_path, three_clips, small_preset):
    out = tmp_path / "web.mp4"

    result = assemble_storyboard(
        clips=[ClipSpec(three_clips[0], "slide"), ClipSpec(three_clips[1])],
        preset=small_preset,
        out_path=out,
    )

    info = probe(out)
    assert (info.codec, info.pix_fmt, info.width, info.height) == ("h264", "yuv420p", 160, 90)
    assert faststart(out)
    assert result.path == out


def test_longer_narration_holds_the_last_frame_to_its_length(tmp_path, three_clips, small_preset):
    narration = write_tone(tmp_path / "long.wav", seconds=3.3)
    out = tmp_path / "narrated.mp4"

    result = assemble_storyboard(
        clips=[ClipSpec(three_clips[0], "crossfade"), ClipSpec(three_clips[1])],
        preset=small_preset,
        transition_duration=0.5,
        audio_path=narration,
        out_path=out,
    )

    frames = math.ceil(3.3 * FPS)  # video alone: 48 - 11 = 37 frames (0.5 s clamped to 11)
    info = probe(out)
    decoded = decode_video(out)
    assert result.has_audio and info.audio_codec == "aac"
    assert result.num_frames == len(decoded) == frames
    assert audio_seconds(out) == pytest.approx(frames / FPS, abs=0.03)
    green = decode_video(three_clips[1])[-1]
    for frame in decoded[37:]:  # the last scene frame, held
        assert distance(frame, green) < 3


def test_shorter_narration_is_padded_with_silence(tmp_path, three_clips, small_preset):
    narration = write_tone(tmp_path / "short.wav", seconds=0.8)
    out = tmp_path / "narrated.mp4"

    result = assemble_storyboard(
        clips=[ClipSpec(p, "wipe") for p in three_clips],
        preset=small_preset,
        transition_duration=0.25,
        audio_path=narration,
        out_path=out,
    )

    frames = 72 - 12
    assert result.num_frames == frames
    assert result.has_audio
    assert audio_seconds(out) == pytest.approx(frames / FPS, abs=0.03)
    samples, rate = decode_audio(out)
    assert rate == 48_000
    assert np.abs(samples[: int(0.6 * rate)]).max() > 0.2  # the tone
    assert np.abs(samples[int(1.0 * rate) :]).max() < 0.01  # then silence


def test_progress_goes_up_to_the_total(tmp_path, three_clips, small_preset):
    seen: list[tuple[float, float]] = []

    assemble_storyboard(
        clips=[ClipSpec(p, "fade") for p in three_clips],
        preset=small_preset,
        out_path=tmp_path / "out.mp4",
        on_progress=lambda done, total: seen.append((done, total)),
    )

    total = (72 - 2 * 11) / FPS  # 0.5 s transitions clamped below half a 1 s scene
    assert seen and seen[-1] == (pytest.approx(total), pytest.approx(total))
    dones = [done for done, _ in seen]
    assert dones == sorted(dones)
    assert all(0 <= done <= total for done in dones)


def test_cancel_from_progress_leaves_no_file_and_keeps_the_old_one(
    tmp_path, three_clips, small_preset
):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous video")

    def cancel(done, total):
        raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        assemble_storyboard(
            clips=[ClipSpec(p) for p in three_clips],
            preset=small_preset,
            out_path=out,
            on_progress=cancel,
        )

    assert out.read_bytes() == b"previous video"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [out.name, *(p.name for p in three_clips)]
    )


def test_ffmpeg_failure_raises_with_its_stderr_and_leaves_nothing(
    tmp_path, three_clips, small_preset
):
    out = tmp_path / "missing-dir" / "out.mp4"

    with pytest.raises(AssemblyError, match="ffmpeg exited with code") as caught:
        assemble_storyboard(clips=[ClipSpec(three_clips[0])], preset=small_preset, out_path=out)

    assert "No such file or directory" in str(caught.value)
    assert not out.parent.exists()


def test_bad_input_is_refused_before_ffmpeg_runs(tmp_path, three_clips, small_preset):
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"not a video at all")

    with pytest.raises(ValueError, match="unknown transition 'spin'"):
        plan_assembly(
            clips=[ClipSpec(three_clips[0], "spin"), ClipSpec(three_clips[1])],
            preset=small_preset,
            out_path=tmp_path / "o.mp4",
        )
    with pytest.raises(ValueError, match="scene 2: .*not a readable video"):
        plan_assembly(
            clips=[ClipSpec(three_clips[0]), ClipSpec(not_video)],
            preset=small_preset,
            out_path=tmp_path / "o.mp4",
        )
    with pytest.raises(ValueError, match="scene 1: duration must be positive"):
        plan_assembly(
            clips=[ClipSpec(three_clips[0], duration=0)],
            preset=small_preset,
            out_path=tmp_path / "o.mp4",
        )
    with pytest.raises(ValueError, match="at least one scene"):
        plan_assembly(clips=[], preset=small_preset, out_path=tmp_path / "o.mp4")
