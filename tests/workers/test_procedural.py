import numpy as np
import pytest
from PIL import Image

from workers.engines.base import EngineError, GenerationCanceled, VideoRequest
from workers.engines.procedural import ProceduralEngine, plan_camera_move

W, H = 128, 72


def _no_progress(stage: str, step: int, total: int) -> None:
    pass


def _frames(request: VideoRequest, progress=_no_progress) -> list[np.ndarray]:
    clip = ProceduralEngine().generate(request, progress=progress)
    return list(clip.frames)


def _still_request(image_path, **kwargs) -> VideoRequest:
    params = {"width": W, "height": H, "num_frames": 12, "motion_strength": 0.6, "seed": 1}
    params.update(kwargs)
    return VideoRequest(kind="image_to_video", image_path=str(image_path), **params)


def _text_request(prompt: str = "Neon rain over a quiet harbour", **kwargs) -> VideoRequest:
    params = {"width": W, "height": H, "num_frames": 12, "seed": 1}
    params.update(kwargs)
    return VideoRequest(kind="text_to_video", prompt=prompt, **params)


def _mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def _centroid(frame: np.ndarray) -> tuple[float, float]:
    g = frame[..., 1].astype(np.float64)
    ys, xs = np.mgrid[0 : g.shape[0], 0 : g.shape[1]]
    return float((g * xs).sum() / g.sum()), float((g * ys).sum() / g.sum())


@pytest.fixture
def photo(tmp_path):
    """A 4:3 still of soft gradients and slow waves: any motion changes pixels, and the change
    grows with the distance moved (no fine pattern that repeats within a few pixels)."""
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float64)
    rgb = np.stack(
        [
            255 * xs / 400,
            255 * ys / 300,
            128 + 127 * np.sin(xs / 40.0) * np.cos(ys / 30.0),
        ],
        axis=-1,
    )
    path = tmp_path / "photo.png"
    Image.fromarray(rgb.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def blob(tmp_path):
    """A soft white dot in the middle of a black 16:9 still, to track the camera precisely."""
    ys, xs = np.mgrid[0:360, 0:640].astype(np.float64)
    g = 255 * np.exp(-((xs - 320) ** 2 + (ys - 180) ** 2) / (2 * 12.0**2))
    path = tmp_path / "blob.png"
    Image.fromarray(np.repeat(g[..., None], 3, axis=-1).astype(np.uint8)).save(path)
    return path


def test_image_to_video_yields_requested_frame_count_and_size(photo):
    clip = ProceduralEngine().generate(_still_request(photo, num_frames=9), progress=_no_progress)
    frames = list(clip.frames)

    assert (clip.width, clip.height, clip.num_frames, clip.engine) == (W, H, 9, "procedural")
    assert len(frames) == 9
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)


def test_frames_are_generated_lazily_with_one_progress_step_each(photo):
    calls = []
    clip = ProceduralEngine().generate(
        _still_request(photo, num_frames=5), progress=lambda *a: calls.append(a)
    )
    assert calls == []

    frames = iter(clip.frames)
    next(frames)
    assert calls == [("generating", 1, 5)]

    list(frames)
    assert calls == [("generating", i, 5) for i in range(1, 6)]


def test_camera_move_changes_pixels_between_frames(photo):
    frames = _frames(_still_request(photo))

    assert all(_mean_abs_diff(a, b) > 0 for a, b in zip(frames, frames[1:], strict=False))


def test_stronger_motion_moves_the_camera_further(photo):
    weak = _frames(_still_request(photo, motion_strength=0.1))
    strong = _frames(_still_request(photo, motion_strength=1.0))

    assert _mean_abs_diff(strong[0], strong[-1]) > 2 * _mean_abs_diff(weak[0], weak[-1])


def test_zero_motion_is_nearly_still(photo):
    frames = _frames(_still_request(photo, motion_strength=0.0))

    assert _mean_abs_diff(frames[0], frames[-1]) < 3.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_camera_move_is_subpixel_smooth_without_jitter(blob, seed):
    # Integer crops would make the dot's path a staircase (errors of ~0.3-0.5 px around a
    # smooth curve); a subpixel move keeps it on a smooth curve.
    frames = _frames(_still_request(blob, num_frames=16, motion_strength=1.0, seed=seed))
    path = np.array([_centroid(f) for f in frames])
    t = np.arange(len(path))

    travel = np.linalg.norm(path[-1] - path[0])
    assert travel > 5.0  # the camera really moved
    for axis in (0, 1):
        fitted = np.polyval(np.polyfit(t, path[:, axis], 5), t)
        assert np.abs(fitted - path[:, axis]).max() < 0.2


def test_frame_to_frame_change_has_no_spikes(photo):
    frames = _frames(_still_request(photo, num_frames=16, motion_strength=1.0))
    diffs = np.array([_mean_abs_diff(a, b) for a, b in zip(frames, frames[1:], strict=False)])

    assert diffs.max() <= 2.5 * np.median(diffs)


def test_camera_move_eases_in_and_out(blob):
    frames = _frames(_still_request(blob, num_frames=16, motion_strength=1.0, seed=2))
    path = np.array([_centroid(f) for f in frames])
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)

    assert steps[0] < 0.5 * steps.max()
    assert steps[-1] < 0.5 * steps.max()


def test_still_is_centre_cropped_to_aspect_not_stretched(tmp_path):
    # A 4:1 still: red and blue outer quarters, green middle. A 16:9 centre crop sees only green.
    rgb = np.zeros((100, 400, 3), dtype=np.uint8)
    rgb[:, :100] = (255, 0, 0)
    rgb[:, 100:300] = (0, 255, 0)
    rgb[:, 300:] = (0, 0, 255)
    path = tmp_path / "wide.png"
    Image.fromarray(rgb).save(path)

    for frame in _frames(_still_request(path, motion_strength=1.0)):
        assert frame[..., 1].min() > 200
        assert frame[..., 0].max() < 40 and frame[..., 2].max() < 40


@pytest.mark.parametrize("seed", range(6))
def test_camera_never_shows_outside_the_image(tmp_path, seed):
    path = tmp_path / "grey.png"
    Image.new("RGB", (300, 200), (120, 130, 140)).save(path)

    frames = np.stack(_frames(_still_request(path, motion_strength=1.0, seed=seed)))

    assert np.abs(frames.astype(np.int16) - np.array([120, 130, 140])).max() <= 1


def test_seed_picks_a_deterministic_camera_direction():
    a = plan_camera_move(width=W, height=H, motion_strength=0.5, seed=7)
    b = plan_camera_move(width=W, height=H, motion_strength=0.5, seed=7)
    others = {plan_camera_move(width=W, height=H, motion_strength=0.5, seed=s) for s in range(8)}

    assert a == b
    assert len(others) > 1


@pytest.mark.parametrize("kind", ["image_to_video", "text_to_video"])
def test_same_request_gives_identical_frames(photo, kind):
    request = _still_request(photo) if kind == "image_to_video" else _text_request()

    first, second = _frames(request), _frames(request)

    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("kind", ["image_to_video", "text_to_video"])
def test_different_seed_gives_different_frames(photo, kind):
    make = (lambda s: _still_request(photo, seed=s)) if kind == "image_to_video" else None
    make = make or (lambda s: _text_request(seed=s))

    a, b = _frames(make(1)), _frames(make(2))

    assert not np.array_equal(a[-1], b[-1])


def test_text_scene_renders_the_prompt():
    with_text = _frames(_text_request("HELLO NEON WORLD"))[-1].astype(np.int16)
    without = _frames(_text_request(""))[-1].astype(np.int16)

    # The text is white and centred: the middle of the frame brightens, the corners do not.
    middle = (slice(H // 4, 3 * H // 4), slice(W // 8, 7 * W // 8))
    corner = (slice(0, H // 8), slice(0, W // 8))
    assert (with_text[middle] - without[middle]).mean() > 15
    assert (with_text[middle].min(axis=-1) > 200).sum() > 50
    assert np.abs(with_text[corner] - without[corner]).mean() < 10


def test_text_scene_background_moves_between_frames():
    frames = _frames(_text_request("", num_frames=8))

    assert all(_mean_abs_diff(a, b) > 0 for a, b in zip(frames, frames[1:], strict=False))


def test_long_prompt_is_wrapped_inside_the_frame():
    prompt = " ".join(["supercalifragilistic"] + ["lantern"] * 80)

    frame = _frames(_text_request(prompt, num_frames=2))[-1]

    assert frame.shape == (H, W, 3)
    # No white text touches the left or right border.
    edges = np.concatenate([frame[:, :3], frame[:, -3:]], axis=1)
    assert (edges.min(axis=-1) > 230).sum() == 0


def test_single_frame_clip_is_supported(photo):
    assert len(_frames(_still_request(photo, num_frames=1))) == 1
    assert len(_frames(_text_request(num_frames=1))) == 1


def test_cancel_from_progress_stops_the_engine(photo):
    def progress(stage, step, total):
        if step == 3:
            raise GenerationCanceled

    produced = []
    clip = ProceduralEngine().generate(_still_request(photo), progress=progress)
    with pytest.raises(GenerationCanceled):
        for frame in clip.frames:
            produced.append(frame)

    assert len(produced) == 2


def test_image_to_video_without_an_image_is_an_engine_error():
    request = VideoRequest(kind="image_to_video", width=W, height=H)

    with pytest.raises(EngineError, match="image"):
        ProceduralEngine().generate(request, progress=_no_progress)


def test_unreadable_image_is_an_engine_error(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")

    with pytest.raises(EngineError, match="could not be read"):
        ProceduralEngine().generate(_still_request(path), progress=_no_progress)


@pytest.mark.parametrize(
    "changes",
    [{"kind": "storyboard"}, {"width": 4}, {"num_frames": 0}, {"fps": 0}],
)
def test_invalid_requests_are_engine_errors(changes):
    request = VideoRequest(**{**_text_request().__dict__, **changes})

    with pytest.raises(EngineError):
        ProceduralEngine().generate(request, progress=_no_progress)
