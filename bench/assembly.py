"""Storyboard assembly: the platform's one-ffmpeg-run assembly against two baselines.

A 5-scene storyboard, 3 s a scene at 576x320 and 24 fps (clips rendered once by the procedural
engine, as an engine would hand them over), joined by fade, wipe, cut and dissolve with 0.5 s
transitions, with a narration track (espeak-ng speech when installed, else a tone), assembled
three ways in one run, the methods taking turns:

  platform      workers.storyboard.assemble_storyboard at a 576x320/24 fps/CRF 23 preset: the
                generic graph (every clip conformed: scale+pad, fps, setsar, format, tpad,
                trim; xfade/concat; narration resampled and padded), progress parsing included
  hand-written  one ffmpeg command written for exactly these inputs (below): xfade/concat and
                the audio padding, nothing else (the clips already have the right size/rate)
  per-frame     the naive way: decode every frame with PyAV into numpy, blend the transitions
                frame by frame in numpy, pipe the frames into ffmpeg (encode_frames), then a
                second ffmpeg run to mux the padded narration

All three write the same thing: H.264 (libx264 veryfast, CRF 23, yuv420p, +faststart) and AAC
128k 48 kHz stereo, 13.5 s (324 frames). Targets (issue 7): platform <= 1.1x hand-written and
>= 10x faster than per-frame.

    python bench/assembly.py                 # 3 rounds, median
    python bench/assembly.py --rounds 5 --json out.json

Results and method: BENCHMARKS.md, "Storyboard assembly".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402
import numpy as np  # noqa: E402

from workers.engines.base import VideoRequest  # noqa: E402
from workers.engines.procedural import ProceduralEngine  # noqa: E402
from workers.media.encode import encode_frames, ffmpeg_exe  # noqa: E402
from workers.media.probe import probe  # noqa: E402
from workers.storyboard.assemble import ClipSpec, assemble_storyboard  # noqa: E402
from workers.storyboard.audio import probe_audio, synthesize_speech, tts_available  # noqa: E402
from workers.storyboard.presets import Preset  # noqa: E402

WIDTH, HEIGHT, FPS, CRF = 576, 320, 24, 23
SCENE_SECONDS = 3.0
TRANSITION = 0.5
TRANSITIONS = ["fade", "wipe", "cut", "dissolve"]  # scene i → i + 1
PROMPTS = [
    "A lighthouse keeper wakes before dawn",
    "Storm clouds roll over the harbour",
    "The lamp fails; ships drift in the dark",
    "She climbs the tower with a lantern",
    "Morning: every boat is safe in port",
]
NARRATION = (
    "Every night, the keeper lit the lamp. One night a storm broke the light. "
    "She climbed the tower with a lantern, and held it up until morning came."
)
VIDEO_SECONDS = 5 * SCENE_SECONDS - 3 * TRANSITION  # one cut: 13.5 s


def make_inputs(workdir: Path) -> tuple[list[Path], Path, str]:
    """Five procedural clips and the narration (espeak-ng speech, or a tone without it)."""
    engine = ProceduralEngine()
    clips = []
    for index, prompt in enumerate(PROMPTS):
        request = VideoRequest(
            kind="text_to_video",
            prompt=prompt,
            width=WIDTH,
            height=HEIGHT,
            fps=FPS,
            num_frames=round(SCENE_SECONDS * FPS),
            seed=index,
        )
        clip = engine.generate(request, progress=lambda *args: None)
        path = workdir / f"scene{index + 1}.mp4"
        encode_frames(clip.frames, path=path, width=WIDTH, height=HEIGHT, fps=FPS)
        clips.append(path)
    narration = workdir / "narration.wav"
    if tts_available():
        synthesize_speech(NARRATION, narration, words_per_minute=150)
        kind = "espeak-ng speech, 22.05 kHz mono WAV"
    else:
        _write_tone(narration, seconds=11.0)
        kind = "440 Hz tone, 22.05 kHz mono WAV (espeak-ng not installed)"
    seconds = probe_audio(narration).duration
    if seconds >= VIDEO_SECONDS:
        raise SystemExit(f"the narration ({seconds:.2f} s) must be shorter than the video")
    return clips, narration, f"{kind}, {seconds:.2f} s"


def run_platform(clips: list[Path], narration: Path, out: Path) -> None:
    preset = Preset("bench", WIDTH, HEIGHT, FPS, CRF)
    specs = [
        ClipSpec(path, transition_to_next=t)
        for path, t in zip(clips, [*TRANSITIONS, "cut"], strict=True)
    ]
    assemble_storyboard(
        clips=specs,
        preset=preset,
        transition_duration=TRANSITION,
        audio_path=narration,
        out_path=out,
        on_progress=lambda done, total: None,
    )


def run_hand_written(clips: list[Path], narration: Path, out: Path) -> None:
    # Written for these inputs: 3 s clips, already 576x320 at 24 fps. Offsets: 2.5 = 3 - 0.5;
    # 5.0 = 2.5 + 3 - 0.5. Scenes 4-5 start a new group after the cut. 13.5 s = 324 frames;
    # 648000 samples = 13.5 s at 48 kHz.
    graph = (
        "[0:v][1:v]xfade=transition=fadeblack:duration=0.5:offset=2.5[v01];"
        "[v01][2:v]xfade=transition=wipeleft:duration=0.5:offset=5[v012];"
        "[3:v][4:v]xfade=transition=dissolve:duration=0.5:offset=2.5[v34];"
        "[v012][v34]concat=n=2:v=1:a=0[v];"
        "[5:a]aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"
        "apad=whole_len=648000,atrim=end_sample=648000[a]"
    )
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    for path in clips:
        command += ["-i", str(path)]
    command += ["-i", str(narration), "-filter_complex", graph, "-map", "[v]", "-map", "[a]"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), "-pix_fmt", "yuv420p"]
    command += ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-y", str(out)]
    subprocess.run(command, check=True)


STAGES: dict[str, list[float]] = {"decode": [], "blend + encode": [], "mux": []}


def run_per_frame(clips: list[Path], narration: Path, out: Path) -> None:
    """Decode everything to numpy, blend in Python, encode, then mux the narration."""
    t0 = time.perf_counter()
    scenes = [_decode(path) for path in clips]
    t1 = time.perf_counter()
    overlap = round(TRANSITION * FPS)
    noise = np.random.default_rng(0).random((HEIGHT, WIDTH, 1), dtype=np.float32)

    def frames() -> Iterator[np.ndarray]:
        pending = scenes[0]
        for index, transition in enumerate(TRANSITIONS):
            nxt = scenes[index + 1]
            if transition == "cut":
                yield from pending
                pending = nxt
                continue
            yield from pending[:-overlap]
            for j in range(overlap):
                progress = (j + 1) / (overlap + 1)
                yield _blend(transition, pending[-overlap + j], nxt[j], progress, noise)
            pending = nxt[overlap:]
        yield from pending

    silent = out.with_name(out.stem + ".video.mp4")
    encode_frames(
        frames(), path=silent, width=WIDTH, height=HEIGHT, fps=FPS, crf=CRF, preset="veryfast"
    )
    t2 = time.perf_counter()
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
    command += ["-i", str(silent), "-i", str(narration), "-map", "0:v", "-map", "1:a"]
    command += ["-af", "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo,"]
    command[-1] += "apad=whole_len=648000,atrim=end_sample=648000"
    command += ["-c:v", "copy", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"]
    command += ["-y", str(out)]
    subprocess.run(command, check=True)
    silent.unlink()
    t3 = time.perf_counter()
    for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
        STAGES[stage].append(seconds)


def run_encode_only(clips: list[Path], narration: Path, out: Path) -> None:
    """Not a method: the floor. The 324 output frames, already decoded and blended in memory,
    encoded with the same settings (the per-frame method's encode, without its Python)."""
    frames = FLOOR_FRAMES or _floor_frames(clips)
    encode_frames(
        iter(frames), path=out, width=WIDTH, height=HEIGHT, fps=FPS, crf=CRF, preset="veryfast"
    )


FLOOR_FRAMES: list[np.ndarray] = []


def _floor_frames(clips: list[Path]) -> list[np.ndarray]:
    scenes = [_decode(path) for path in clips]
    frames = [frame for scene in scenes for frame in scene][: round(VIDEO_SECONDS * FPS)]
    FLOOR_FRAMES.extend(frames)
    return FLOOR_FRAMES


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def _blend(kind: str, a: np.ndarray, b: np.ndarray, p: float, noise: np.ndarray) -> np.ndarray:
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    if kind == "fade":  # through black: out in the first half, in during the second
        mixed = fa * max(0.0, 1 - 2 * p) + fb * max(0.0, 2 * p - 1)
    elif kind == "wipe":  # b comes in from the right edge
        mixed = fa.copy()
        edge = round(WIDTH * (1 - p))
        mixed[:, edge:] = fb[:, edge:]
    elif kind == "dissolve":  # pixels switch where the noise is below the progress
        mixed = np.where(noise < p, fb, fa)
    else:
        mixed = fa * (1 - p) + fb * p
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg), user + system."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _write_tone(path: Path, *, seconds: float, rate: int = 22_050) -> None:
    import wave

    t = np.arange(round(seconds * rate)) / rate
    samples = (0.4 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())


METHODS = {
    "platform": run_platform,
    "hand-written": run_hand_written,
    "per-frame": run_per_frame,
    "x264 encode only (floor)": run_encode_only,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-assembly-") as tmp:
        workdir = Path(tmp)
        clips, narration, narration_kind = make_inputs(workdir)
        # One untimed round (disk cache, first-run costs), then the timed rounds, in turn.
        times: dict[str, list[float]] = {name: [] for name in METHODS}
        cpu: dict[str, list[float]] = {name: [] for name in METHODS}
        outputs: dict[str, Path] = {}
        for round_ in range(args.rounds + 1):
            for index, (name, method) in enumerate(METHODS.items()):
                out = workdir / f"method{index}.mp4"
                cpu_start = _cpu_seconds()
                start = time.perf_counter()
                method(clips, narration, out)
                elapsed = time.perf_counter() - start
                if round_:
                    times[name].append(elapsed)
                    cpu[name].append(_cpu_seconds() - cpu_start)
                else:
                    for values in STAGES.values():
                        values.clear()
                outputs[name] = out
        infos = {name: probe(path) for name, path in outputs.items()}

    medians = {name: statistics.median(values) for name, values in times.items()}
    vs_hand = medians["platform"] / medians["hand-written"]
    vs_loop = medians["per-frame"] / medians["platform"]
    print(
        f"Storyboard: 5 scenes x {SCENE_SECONDS:g} s, {WIDTH}x{HEIGHT} @ {FPS} fps, "
        f"transitions {', '.join(TRANSITIONS)} ({TRANSITION} s), narration: {narration_kind}"
    )
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print()
    print("| method | wall median s | wall runs s | CPU median s | frames | duration s | audio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in METHODS:
        info = infos[name]
        runs = " ".join(f"{t:.2f}" for t in times[name])
        print(
            f"| {name} | {medians[name]:.3f} | {runs} | {statistics.median(cpu[name]):.2f} | "
            f"{info.num_frames} | {info.duration:.3f} | {info.audio_codec or '-'} |"
        )
    print()
    stages = ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in STAGES.items())
    print(f"per-frame stages (median): {stages}")
    print(f"platform / hand-written: {vs_hand:.3f}x (target <= 1.1x)")
    print(f"per-frame / platform: {vs_loop:.1f}x faster (target >= 10x)")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "times": times,
                    "medians": medians,
                    "platform_vs_hand_written": vs_hand,
                    "per_frame_vs_platform": vs_loop,
                    "narration": narration_kind,
                    "cpu": cpu,
                    "per_frame_stages": STAGES,
                    "frames": {name: info.num_frames for name, info in infos.items()},
                },
                indent=2,
            )
        )
    return 0 if vs_hand <= 1.1 and vs_loop >= 10 else 1


if __name__ == "__main__":
    raise SystemExit(main())
