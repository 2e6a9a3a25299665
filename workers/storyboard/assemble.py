"""Scene clips + transitions + narration → one MP4, in a single ffmpeg run.

Every clip is conformed inside the filter graph (scale to fit and pad to the preset size, never
stretch; frame-rate conversion with ``fps``; square pixels; yuv420p; cut or held to the scene
duration), the scenes are joined with ``xfade`` (or ``concat`` for a cut), and the narration is
mapped beside them. One ffmpeg process decodes, filters and encodes: no frame passes through
Python and no intermediate file is written.

Timeline (all in whole frames of the preset's rate ``fps``; docs/storyboards.md has the picture):

- scene *i* lasts ``n_i = round(d_i * fps)`` frames, ``d_i`` being its requested duration or, when
  none is given, the clip's own; a shorter clip holds its last frame up to ``n_i``.
- a transition other than ``cut`` overlaps the end of scene *i* with the start of scene *i + 1*
  for ``k = round(transition_duration * fps)`` frames, clamped below half the shorter of the two
  scenes (``k <= (min(n_i, n_i+1) - 1) // 2``), so a scene's two transitions never meet; when
  the clamp leaves no frame, the transition becomes a cut.
- ``num_frames = sum(n_i) - sum(k_j)``: the total is the sum of the scene durations minus one
  transition duration per non-cut transition. Scene *i + 1* starts at ``start_i + n_i - k_i``.

Narration sync: when the audio is longer than the video, the video holds its last frame up to
the audio's length (rounded up to a whole frame); when it is shorter, the audio is padded with
silence to the video's length. Either way both streams end together.

The filter graph is written out as text (``_filter_graph``) rather than built with ffmpeg-python:
ffmpeg-python merges nodes with equal arguments, so a clip used for two scenes would become one
input needing a ``split``, which buffers the whole clip in memory until the later scene is
reached. Separate inputs decode it twice and keep memory flat.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import av

from workers.media.encode import EncodeError, ffmpeg_exe
from workers.media.probe import probe
from workers.storyboard.audio import probe_audio
from workers.storyboard.presets import XFADE, Preset

X264_PRESET = "veryfast"
AUDIO_RATE = 48_000
AUDIO_BITRATE = "128k"
STDERR_TAIL_LINES = 20

ProgressFn = Callable[[float, float], None]


class AssemblyError(EncodeError):
    """ffmpeg failed to assemble the storyboard; the message ends with the tail of its stderr."""


@dataclass(frozen=True)
class ClipSpec:
    """One scene: its clip, the transition into the next scene, and its length in seconds.

    ``duration=None`` keeps the clip's own length. The last scene's ``transition_to_next`` is
    not used (it is still checked to be a known name).
    """

    path: str | os.PathLike[str]
    transition_to_next: str = "cut"
    duration: float | None = None


@dataclass(frozen=True)
class Timeline:
    """Where each scene lands in the merged video, in frames of ``fps``."""

    fps: int
    scene_frames: tuple[int, ...]  # n_i: frames of each scene, overlaps included
    transitions: tuple[str, ...]  # between scene i and i + 1, after clamping (may become "cut")
    overlap_frames: tuple[int, ...]  # k_i: frames shared by scene i and i + 1 (0 for a cut)
    scene_start_frames: tuple[int, ...]
    num_frames: int

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    @property
    def scene_starts(self) -> tuple[float, ...]:
        """Start time of each scene in the merged video, in seconds."""
        return tuple(frame / self.fps for frame in self.scene_start_frames)


@dataclass(frozen=True)
class AssemblyPlan:
    """The ffmpeg command that renders a storyboard, and what it will produce."""

    command: list[str]
    timeline: Timeline
    num_frames: int  # the timeline's, or more when the video holds its last frame for narration
    audio_duration: float | None  # the narration's own length in seconds; None without one
    out_path: Path
    tmp_path: Path  # ffmpeg writes here; renamed to out_path on success

    @property
    def duration(self) -> float:
        return self.num_frames / self.timeline.fps


@dataclass(frozen=True)
class AssemblyResult:
    path: Path
    width: int
    height: int
    fps: float
    num_frames: int
    duration: float  # seconds
    has_audio: bool


def plan_timeline(
    *,
    durations: Sequence[float],
    transitions: Sequence[str],
    transition_duration: float,
    fps: int,
) -> Timeline:
    """The frame-exact timeline of scenes of ``durations`` seconds joined by ``transitions``.

    ``transitions[i]`` leads from scene i into scene i + 1 (so there is one fewer than there are
    scenes). See the module docstring for the rules; ``ValueError`` on an unknown transition, a
    duration that is not positive or a negative transition duration.
    """
    if not durations:
        raise ValueError("a storyboard needs at least one scene")
    if len(transitions) != len(durations) - 1:
        raise ValueError(f"{len(durations)} scenes need {len(durations) - 1} transitions")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if not transition_duration >= 0:
        raise ValueError(f"transition_duration must be >= 0, got {transition_duration}")
    for index, duration in enumerate(durations):
        if not duration > 0 or math.isinf(duration):
            raise ValueError(f"scene {index + 1}: duration must be positive, got {duration}")
    for transition in transitions:
        _check_transition(transition)

    frames = tuple(max(1, round(duration * fps)) for duration in durations)
    wanted = round(transition_duration * fps)
    effective: list[str] = []
    overlaps: list[int] = []
    for index, transition in enumerate(transitions):
        limit = (min(frames[index], frames[index + 1]) - 1) // 2  # strictly below half
        overlap = 0 if transition == "cut" else min(wanted, limit)
        effective.append(transition if overlap > 0 else "cut")
        overlaps.append(max(0, overlap))

    starts = [0]
    for index, overlap in enumerate(overlaps):
        starts.append(starts[-1] + frames[index] - overlap)
    return Timeline(
        fps=fps,
        scene_frames=frames,
        transitions=tuple(effective),
        overlap_frames=tuple(overlaps),
        scene_start_frames=tuple(starts),
        num_frames=sum(frames) - sum(overlaps),
    )


def plan_assembly(
    *,
    clips: Sequence[ClipSpec],
    preset: Preset,
    transition_duration: float = 0.5,
    audio_path: str | os.PathLike[str] | None = None,
    out_path: str | os.PathLike[str],
) -> AssemblyPlan:
    """Probe the inputs and build the one ffmpeg command that ``assemble_storyboard`` runs.

    ``ValueError`` when a clip or the narration cannot be read, or on a bad parameter.
    """
    if not clips:
        raise ValueError("a storyboard needs at least one scene")
    if preset.width <= 0 or preset.height <= 0 or preset.width % 2 or preset.height % 2:
        raise ValueError(
            f"preset size must be positive and even, got {preset.width}x{preset.height}"
        )
    for clip in clips:
        _check_transition(clip.transition_to_next)

    sources = []
    for index, clip in enumerate(clips):
        try:
            sources.append(probe(clip.path))
        except (OSError, ValueError, av.FFmpegError) as exc:
            raise ValueError(
                f"scene {index + 1}: {Path(clip.path).name} is not a readable video: {exc}"
            )
    durations = [
        clip.duration if clip.duration is not None else source.duration
        for clip, source in zip(clips, sources, strict=True)
    ]
    timeline = plan_timeline(
        durations=durations,
        transitions=[clip.transition_to_next for clip in clips[:-1]],
        transition_duration=transition_duration,
        fps=preset.fps,
    )

    audio_duration = None
    num_frames = timeline.num_frames
    if audio_path is not None:
        audio_duration = probe_audio(audio_path).duration
        # Hold the last frame for a longer narration, to the next whole frame.
        num_frames = max(num_frames, math.ceil(audio_duration * preset.fps - 1e-6))

    graph, video_label, audio_label = _filter_graph(
        sources_fps=[source.fps for source in sources],
        timeline=timeline,
        preset=preset,
        num_frames=num_frames,
        audio_input=len(clips) if audio_path is not None else None,
    )

    out = Path(out_path)
    tmp = out.with_name(f".{out.stem}.{uuid.uuid4().hex}.part{out.suffix}")
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]
    command += ["-progress", "pipe:1"]
    for clip in clips:
        command += ["-i", os.fspath(clip.path)]
    if audio_path is not None:
        command += ["-i", os.fspath(audio_path)]
    command += ["-filter_complex", graph, "-map", video_label]
    command += ["-c:v", "libx264", "-preset", X264_PRESET, "-crf", str(preset.crf)]
    command += ["-pix_fmt", "yuv420p", "-colorspace", "bt709", "-color_primaries", "bt709"]
    command += ["-color_trc", "bt709", "-color_range", "tv"]
    if audio_label is not None:
        command += ["-map", audio_label, "-c:a", "aac", "-b:a", AUDIO_BITRATE]
    command += ["-movflags", "+faststart", "-f", "mp4", "-y", str(tmp)]
    return AssemblyPlan(
        command=command,
        timeline=timeline,
        num_frames=num_frames,
        audio_duration=audio_duration,
        out_path=out,
        tmp_path=tmp,
    )


def assemble_storyboard(
    *,
    clips: Sequence[ClipSpec],
    preset: Preset,
    transition_duration: float = 0.5,
    audio_path: str | os.PathLike[str] | None = None,
    out_path: str | os.PathLike[str],
    on_progress: ProgressFn | None = None,
) -> AssemblyResult:
    """Merge ``clips`` into one H.264/AAC MP4 at ``out_path``, conformed to ``preset``.

    ``on_progress(done_seconds, total_seconds)`` follows ffmpeg's output position (about twice a
    second, and once at the end); it may raise (``GenerationCanceled``) to stop the work. On any
    failure ffmpeg is killed and no partial file is left; an existing ``out_path`` is replaced
    only on success. ffmpeg's own failures raise ``AssemblyError``; bad input ``ValueError``.
    """
    plan = plan_assembly(
        clips=clips,
        preset=preset,
        transition_duration=transition_duration,
        audio_path=audio_path,
        out_path=out_path,
    )
    run_plan(plan, on_progress=on_progress)
    info = probe(plan.out_path)
    return AssemblyResult(
        path=plan.out_path,
        width=info.width,
        height=info.height,
        fps=info.fps,
        num_frames=info.num_frames,
        duration=info.num_frames / info.fps if info.fps else info.duration,
        has_audio=info.has_audio,
    )


def run_plan(plan: AssemblyPlan, *, on_progress: ProgressFn | None = None) -> None:
    """Run the plan's ffmpeg command, reporting progress; the output appears only on success."""
    total = plan.duration
    stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    process = subprocess.Popen(
        plan.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    drain = threading.Thread(target=_drain, args=(process.stderr, stderr_tail), daemon=True)
    drain.start()
    try:
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            if key == "out_time_us" and on_progress is not None:
                try:
                    done = int(value) / 1e6
                except ValueError:
                    continue  # "N/A" before the first frame
                on_progress(min(max(done, 0.0), total), total)
        returncode = process.wait()
        drain.join(timeout=5)
        if returncode != 0:
            details = "\n".join(stderr_tail)
            message = f"ffmpeg exited with code {returncode}"
            raise AssemblyError(f"{message}: {details}" if details else message)
        os.replace(plan.tmp_path, plan.out_path)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.wait()
        drain.join(timeout=5)
        plan.tmp_path.unlink(missing_ok=True)
        raise
    finally:
        if process.stdout is not None:
            process.stdout.close()
    if on_progress is not None:
        on_progress(total, total)


def _filter_graph(
    *,
    sources_fps: Sequence[float],
    timeline: Timeline,
    preset: Preset,
    num_frames: int,
    audio_input: int | None,
) -> tuple[str, str, str | None]:
    """The ``-filter_complex`` text and the labels of its video and audio outputs."""
    chains: list[str] = []
    for index, (fps, frames) in enumerate(zip(sources_fps, timeline.scene_frames, strict=True)):
        chains.append(f"[{index}:v]{_conform(fps, frames, preset)}[s{index}]")

    # Scenes joined by xfade form groups; groups are joined by cuts (one concat at the end).
    groups: list[str] = []
    current, length = "s0", timeline.scene_frames[0]
    for index, transition in enumerate(timeline.transitions):
        nxt = f"s{index + 1}"
        if transition == "cut":
            groups.append(current)
            current, length = nxt, timeline.scene_frames[index + 1]
            continue
        overlap = timeline.overlap_frames[index]
        offset = (length - overlap) / preset.fps
        label = f"x{index + 1}"
        chains.append(
            f"[{current}][{nxt}]xfade=transition={XFADE[transition]}"
            f":duration={overlap / preset.fps:.6f}:offset={offset:.6f}[{label}]"
        )
        current, length = label, length + timeline.scene_frames[index + 1] - overlap
    groups.append(current)

    if len(groups) > 1:
        joined = "".join(f"[{g}]" for g in groups)
        chains.append(f"{joined}concat=n={len(groups)}:v=1:a=0[joined]")
        current = "joined"

    if num_frames > timeline.num_frames:  # a longer narration: hold the last frame
        hold = num_frames - timeline.num_frames
        chains.append(f"[{current}]tpad=stop_mode=clone:stop={hold}[vout]")
    else:
        chains.append(f"[{current}]null[vout]")

    audio_label = None
    if audio_input is not None:
        samples = round(num_frames / preset.fps * AUDIO_RATE)
        chains.append(
            f"[{audio_input}:a]asetpts=PTS-STARTPTS,"
            f"aformat=sample_fmts=fltp:sample_rates={AUDIO_RATE}:channel_layouts=stereo,"
            f"apad=whole_len={samples},atrim=end_sample={samples}[aout]"
        )
        audio_label = "[aout]"
    return ";".join(chains), "[vout]", audio_label


def _conform(source_fps: float, frames: int, preset: Preset) -> str:
    """Filters that turn one clip into exactly ``frames`` frames of the preset's format.

    Frame-rate conversion comes first when it drops frames and last when it repeats them, so
    the scaler never works on a frame that is thrown away or on a copy of one it already did.
    """
    fps = f"fps={preset.fps}"
    scale = [
        # Fit inside the preset size, aspect kept (display aspect: anamorphic sources too).
        f"scale={preset.width}:{preset.height}:force_original_aspect_ratio=decrease"
        ":force_divisible_by=2:reset_sar=1:out_color_matrix=bt709:out_range=tv",
        "format=yuv420p",
        f"pad={preset.width}:{preset.height}:(ow-iw)/2:(oh-ih)/2:color=black",
        "setsar=1",
    ]
    filters = ["setpts=PTS-STARTPTS"]
    filters += [fps, *scale] if source_fps > preset.fps else [*scale, fps]
    # Hold the last frame when the clip is shorter than the scene, then cut to the scene.
    filters += [f"tpad=stop_mode=clone:stop={frames}", f"trim=end_frame={frames}"]
    return ",".join(filters)


def _check_transition(name: str) -> None:
    if name not in XFADE:
        choices = ", ".join(XFADE)
        raise ValueError(f"unknown transition {name!r}; choose one of {choices}")


def _drain(stream: IO[bytes] | None, tail: deque[str]) -> None:
    if stream is None:
        return
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)
    stream.close()
