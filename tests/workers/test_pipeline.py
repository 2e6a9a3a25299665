import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import workers.engines as engines
from workers.engines import EngineUnavailable, get_engine, register_engine
from workers.engines.base import EngineError, GenerationCanceled, VideoRequest
from workers.engines.procedural import ProceduralEngine
from workers.media.probe import faststart, probe
from workers.pipeline import render_video

W, H = 128, 72
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def photo(tmp_path):
    ys, xs = np.mgrid[0:240, 0:320].astype(np.float64)
    rgb = np.stack([255 * xs / 320, 255 * ys / 240, 128 + 127 * np.sin(xs / 6.0)], axis=-1)
    path = tmp_path / "photo.png"
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def request_(photo) -> VideoRequest:
    return VideoRequest(
        kind="image_to_video", image_path=str(photo), width=W, height=H, fps=8, num_frames=8
    )


@pytest.fixture
def registry():
    """Restore the engine registry after a test that changes it."""
    saved = dict(engines._REGISTRY)
    engines.clear_engine_cache()
    yield
    engines._REGISTRY.clear()
    engines._REGISTRY.update(saved)
    engines.clear_engine_cache()


def test_render_video_writes_video_and_thumbnail(tmp_path, request_):
    out = tmp_path / "gen"

    result = render_video(request_, engine=ProceduralEngine(), out_dir=out, progress=_ignore)

    assert result.video_path == out / "video.mp4"
    assert result.thumbnail_path == out / "thumbnail.jpg"
    assert (result.width, result.height, result.fps, result.num_frames) == (W, H, 8.0, 8)
    assert result.duration_seconds == pytest.approx(1.0)
    assert result.engine == "procedural" and result.notes
    assert sorted(p.name for p in out.iterdir()) == ["thumbnail.jpg", "video.mp4"]
    info = probe(result.video_path)
    assert (info.codec, info.pix_fmt, info.num_frames) == ("h264", "yuv420p", 8)
    assert faststart(result.video_path)
    with Image.open(result.thumbnail_path) as im:
        assert (im.format, im.size) == ("JPEG", (W, H))


def test_thumbnail_shows_the_first_frame(tmp_path, request_):
    result = render_video(request_, engine=ProceduralEngine(), out_dir=tmp_path, progress=_ignore)

    clip = ProceduralEngine().generate(request_, progress=_ignore)
    frames = list(clip.frames)
    with Image.open(result.thumbnail_path) as im:
        thumb = np.asarray(im.convert("RGB"), dtype=np.int16)
    first_error = np.abs(thumb - frames[0]).mean()
    last_error = np.abs(thumb - frames[-1]).mean()
    assert first_error < 4 and first_error < last_error


def test_render_video_reports_stages_in_order(tmp_path, request_):
    events = []

    render_video(
        request_, engine=ProceduralEngine(), out_dir=tmp_path, progress=lambda *e: events.append(e)
    )

    assert events == [("generating", i, 8) for i in range(1, 9)] + [
        ("encoding", 1, 1),
        ("saving", 1, 1),
    ]


def test_full_size_text_video_renders_end_to_end(tmp_path):
    request = VideoRequest(kind="text_to_video", prompt="A lighthouse in a storm of stars")

    result = render_video(
        request, engine=get_engine("procedural"), out_dir=tmp_path, progress=_ignore
    )

    info = probe(result.video_path)
    assert (info.width, info.height, info.num_frames) == (1024, 576, 25)
    assert info.fps == pytest.approx(7)
    with Image.open(result.thumbnail_path) as im:
        assert im.size == (640, 360)


def test_cancel_during_generation_removes_every_file(tmp_path, request_):
    def progress(stage, step, total):
        if stage == "generating" and step == 4:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        render_video(
            request_, engine=ProceduralEngine(), out_dir=tmp_path / "gen", progress=progress
        )

    assert list((tmp_path / "gen").iterdir()) == []


@pytest.mark.parametrize("stage", ["encoding", "saving"])
def test_failure_after_the_video_is_written_removes_it(tmp_path, request_, stage):
    def progress(reported, step, total):
        if reported == stage:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        render_video(
            request_, engine=ProceduralEngine(), out_dir=tmp_path / "gen", progress=progress
        )

    assert list((tmp_path / "gen").iterdir()) == []


def test_engine_error_leaves_no_files(tmp_path):
    request = VideoRequest(kind="image_to_video", width=W, height=H)

    with pytest.raises(EngineError):
        render_video(request, engine=ProceduralEngine(), out_dir=tmp_path / "gen", progress=_ignore)

    assert list((tmp_path / "gen").iterdir()) == []


def test_get_engine_returns_one_procedural_engine_per_process():
    engine = get_engine("procedural")

    assert isinstance(engine, ProceduralEngine) and engine.name == "procedural"
    assert get_engine("procedural") is engine


def test_unknown_engine_is_unavailable():
    with pytest.raises(EngineUnavailable, match="Unknown engine 'nope'"):
        get_engine("nope")


def test_engine_that_cannot_be_imported_is_unavailable(registry):
    register_engine("ghost", "workers.engines.does_not_exist:GhostEngine")

    with pytest.raises(EngineUnavailable, match="'ghost' engine is not available"):
        get_engine("ghost")


def test_registered_factory_is_used(registry):
    register_engine("custom", ProceduralEngine)

    assert isinstance(get_engine("custom"), ProceduralEngine)


def test_diffusion_engines_are_registered_lazily():
    assert {"procedural", "svd", "zeroscope"} <= set(engines.available_engines())
    assert engines._REGISTRY["svd"] == "workers.engines.svd:SVDEngine"
    assert engines._REGISTRY["zeroscope"] == "workers.engines.zeroscope:ZeroscopeEngine"


def test_workers_import_neither_torch_nor_django():
    code = (
        "import sys, workers.engines, workers.pipeline, workers.media.probe;"
        "workers.engines.get_engine('procedural');"
        "bad = [m for m in ('torch', 'diffusers', 'django', 'apps') if m in sys.modules];"
        "assert not bad, bad"
    )

    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def _ignore(stage: str, step: int, total: int) -> None:
    pass
