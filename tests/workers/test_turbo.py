"""SVD's turbo tier (DeepCache-style feature reuse) on the tiny random-weight SVD model."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from workers.engines import get_engine  # noqa: E402
from workers.engines.base import GenerationCanceled, VideoRequest  # noqa: E402
from workers.engines.diffusion import cached_pipelines  # noqa: E402
from workers.engines.turbo import FeatureReuseUNet, feature_reuse, frame_distance  # noqa: E402
from workers.tiny_models import tiny_svd_pipeline  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_engines")


@pytest.fixture(scope="module")
def pipe():
    pipe = tiny_svd_pipeline(num_frames=6)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def still():
    rng = np.random.default_rng(3)
    return Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))


def _run(pipe, image, steps: int = 7) -> np.ndarray:
    return pipe(
        image=image,
        height=64,
        width=64,
        num_frames=6,
        num_inference_steps=steps,
        decode_chunk_size=6,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
    ).frames[0]


def test_reusing_nothing_is_stock_exactly(pipe, still):
    stock = _run(pipe, still)
    with feature_reuse(pipe, interval=1) as unet:
        same = _run(pipe, still)
    assert unet.stats.full == 7 and unet.stats.shallow == 0
    np.testing.assert_array_equal(same, stock)


def test_every_third_step_runs_the_whole_unet_and_the_output_stays_close(pipe, still):
    stock = _run(pipe, still)
    with feature_reuse(pipe, interval=3) as unet:
        turbo = _run(pipe, still)
    assert (unet.stats.full, unet.stats.shallow) == (3, 4)  # steps 0, 3, 6 full
    assert turbo.shape == stock.shape and np.isfinite(turbo).all()
    distance = frame_distance(turbo, stock)
    assert 0 < distance["mean_abs_diff_mean"] < 40
    assert 15 < distance["psnr_db_min"] < float("inf")
    assert len(distance["psnr_db"]) == 6
    # The pipeline has its own UNet back, its config untouched.
    assert type(pipe.unet).__name__ == "UNetSpatioTemporalConditionModel"
    assert pipe.config.unet[1] == "UNetSpatioTemporalConditionModel"


def test_the_shallow_path_reuses_the_kept_deep_feature(pipe, still):
    """A shallow step's output depends on the kept feature: another one gives another output."""
    unet = FeatureReuseUNet(pipe.unet, interval=3)
    sample = torch.randn(2, 6, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    t = torch.tensor(0.5)
    ehs = torch.randn(2, 1, 32, generator=torch.Generator().manual_seed(1))
    ids = torch.tensor([[6.0, 127.0, 0.02]] * 2)
    with torch.no_grad():
        full = unet(sample, t, ehs, ids, return_dict=False)[0]
        stock = pipe.unet(sample, t, ehs, ids, return_dict=False)[0]
        shallow = unet(sample, t, ehs, ids, return_dict=False)[0]
        unet.cached = unet.cached * 0.5
        shallow_other = unet(sample, t, ehs, ids, return_dict=False)[0]
    torch.testing.assert_close(full, stock, rtol=0, atol=0)
    # Same inputs, the feature kept from the same inputs: the shallow path reproduces the full.
    torch.testing.assert_close(shallow, full, rtol=1e-5, atol=1e-5)
    assert unet.stats.full == 1 and unet.stats.shallow == 2
    assert not torch.allclose(shallow_other, full)


def test_frame_distance():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[1] = 10
    d = frame_distance(b, a)
    assert d["mean_abs_diff"] == [0.0, 10.0] and d["mean_abs_diff_mean"] == 5.0
    assert d["psnr_db"][0] == float("inf")
    assert d["psnr_db"][1] == pytest.approx(10 * np.log10(255**2 / 100), abs=0.01)
    assert d["psnr_db_mean"] == d["psnr_db"][1]
    with pytest.raises(ValueError):
        frame_distance(a[:1], a)


@pytest.fixture
def request_(image_file) -> VideoRequest:
    return VideoRequest(
        kind="image_to_video",
        image_path=image_file(80, 64),
        width=64,
        height=64,
        fps=6,
        num_frames=4,
        num_inference_steps=6,
        seed=99,
        extra={"decode_chunk_size": 4},
    )


def _frames(engine, request, progress=lambda *a: None) -> np.ndarray:
    return np.stack(list(engine.generate(request, progress=progress).frames))


def test_the_svd_engine_runs_turbo_when_asked(tiny_models, request_):
    engine = get_engine("svd", model=tiny_models["svd"], device=None)
    stock = _frames(engine, request_)
    assert np.array_equal(_frames(engine, replace(request_, extra={"decode_chunk_size": 4})), stock)
    turbo_request = replace(request_, extra={"decode_chunk_size": 4, "quality": "turbo"})
    clip = engine.generate(turbo_request, progress=lambda *a: None)
    turbo = np.stack(list(clip.frames))
    assert turbo.shape == stock.shape == (4, 64, 64, 3) and turbo.dtype == np.uint8
    assert not np.array_equal(turbo, stock)
    assert "turbo" in clip.notes[0]
    (loaded,) = cached_pipelines().values()
    assert loaded.turbo.stats.full == 2 and loaded.turbo.stats.shallow == 4
    assert loaded.pipe.unet is not loaded.turbo  # swapped back
    # The same seed gives the same turbo video; "standard" is stock.
    assert np.array_equal(_frames(engine, turbo_request), turbo)
    standard = replace(request_, extra={"decode_chunk_size": 4, "quality": "standard"})
    assert np.array_equal(_frames(engine, standard), stock)


def test_a_cancel_during_turbo_puts_the_unet_back(tiny_models, request_, recorder):
    engine = get_engine("svd", model=tiny_models["svd"], device=None)
    events = recorder(("generating", 2), GenerationCanceled())
    with pytest.raises(GenerationCanceled):
        engine.generate(replace(request_, extra={"quality": "turbo"}), progress=events)
    (loaded,) = cached_pipelines().values()
    assert type(loaded.pipe.unet).__name__ == "UNetSpatioTemporalConditionModel"
