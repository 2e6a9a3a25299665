"""The zeroscope engine on a tiny random-weight model, loaded through the worker's real code."""

from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("diffusers")

import torch  # noqa: E402

from workers.engines import get_engine  # noqa: E402
from workers.engines.base import (  # noqa: E402
    EngineError,
    EngineUnavailable,
    GenerationCanceled,
    VideoRequest,
)
from workers.engines.diffusion import cached_pipelines  # noqa: E402
from workers.engines.zeroscope import ZeroscopeEngine  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_engines")

W, H = 64, 64


@pytest.fixture
def zeroscope(tiny_models) -> ZeroscopeEngine:
    return get_engine("zeroscope", model=tiny_models["zeroscope"], device=None)


@pytest.fixture
def request_() -> VideoRequest:
    return VideoRequest(
        kind="text_to_video",
        prompt="a lighthouse at night, waves, cinematic",
        negative_prompt="blurry, watermark",
        width=W,
        height=H,
        fps=8,
        num_frames=5,
        num_inference_steps=3,
        guidance_scale=7.5,
        seed=42,
        extra={"decode_chunk_size": 2},
    )


def _ignore(stage: str, step: int, total: int) -> None:
    pass


def _frames(engine, request) -> np.ndarray:
    return np.stack(list(engine.generate(request, progress=_ignore).frames))


def test_generate_returns_uint8_frames_of_the_asked_size(zeroscope, request_):
    clip = zeroscope.generate(request_, progress=_ignore)
    frames = list(clip.frames)

    assert (clip.engine, clip.width, clip.height, clip.fps, clip.num_frames) == (
        "zeroscope",
        W,
        H,
        8.0,
        5,
    )
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)


def test_parameters_reach_the_pipeline(zeroscope, request_, pipeline_calls):
    calls = pipeline_calls(zeroscope.load(_ignore).pipe)

    zeroscope.generate(request_, progress=_ignore)

    (kwargs,) = calls
    assert kwargs["prompt"] == "a lighthouse at night, waves, cinematic"
    assert kwargs["negative_prompt"] == "blurry, watermark"
    assert (kwargs["num_frames"], kwargs["num_inference_steps"]) == (5, 3)
    assert kwargs["guidance_scale"] == 7.5
    assert (kwargs["width"], kwargs["height"]) == (W, H)
    assert kwargs["generator"].initial_seed() == 42
    assert kwargs["output_type"] == "np" and kwargs["callback_steps"] == 1


def test_empty_negative_prompt_is_none(zeroscope, request_, pipeline_calls):
    calls = pipeline_calls(zeroscope.load(_ignore).pipe)

    zeroscope.generate(replace(request_, negative_prompt="  "), progress=_ignore)

    assert calls[0]["negative_prompt"] is None


def test_same_seed_same_video_other_seed_another(zeroscope, request_):
    first = _frames(zeroscope, request_)

    assert np.array_equal(first, _frames(zeroscope, request_))
    assert not np.array_equal(first, _frames(zeroscope, replace(request_, seed=7)))


def test_chunked_decode_gives_the_same_frames(zeroscope, request_):
    chunked = _frames(zeroscope, replace(request_, extra={"decode_chunk_size": 2}))
    whole = _frames(zeroscope, replace(request_, extra={"decode_chunk_size": 64}))

    assert np.abs(chunked.astype(int) - whole.astype(int)).max() <= 1


def test_progress_per_denoising_step_and_per_decode_chunk(zeroscope, request_, recorder):
    events = recorder()

    zeroscope.generate(request_, progress=events)

    assert events == [
        ("loading model", 0, 1),
        ("loading model", 1, 1),
        ("generating", 1, 3),
        ("generating", 2, 3),
        ("generating", 3, 3),
        ("decoding", 0, 3),  # 5 frames in chunks of 2
        ("decoding", 1, 3),
        ("decoding", 2, 3),
        ("decoding", 3, 3),
    ]


def test_cancel_mid_run(zeroscope, request_, recorder):
    events = recorder(raise_at=("generating", 1), exc=GenerationCanceled())
    pipe = zeroscope.load(_ignore).pipe

    with pytest.raises(GenerationCanceled):
        zeroscope.generate(request_, progress=events)

    assert events[-1] == ("generating", 1, 3)
    assert "decode" not in vars(pipe.vae)


def test_out_of_memory_retries_with_one_frame_per_decode(zeroscope, request_, monkeypatch):
    pipe = zeroscope.load(_ignore).pipe
    forward = pipe.unet.forward
    failures = []

    def forward_out_of_memory_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipe.unet, "forward", forward_out_of_memory_once)
    events = []

    clip = zeroscope.generate(request_, progress=lambda *e: events.append(e))

    assert len(list(clip.frames)) == 5
    assert [e for e in events if e[0] == "decoding"][-1] == ("decoding", 5, 5)
    assert any("ran out of memory" in note for note in clip.notes)


def test_out_of_memory_twice_is_a_clear_engine_error(zeroscope, request_, monkeypatch):
    pipe = zeroscope.load(_ignore).pipe

    def always_out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(pipe.unet, "forward", always_out_of_memory)

    with pytest.raises(EngineError, match="GPU ran out of memory for this zeroscope video"):
        zeroscope.generate(request_, progress=_ignore)


def test_second_load_is_free(tiny_models, request_, monkeypatch):
    from diffusers import TextToVideoSDPipeline

    loads = []
    original = TextToVideoSDPipeline.from_pretrained

    def counting_from_pretrained(*args, **kwargs):
        loads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(TextToVideoSDPipeline, "from_pretrained", counting_from_pretrained)
    engine = get_engine("zeroscope", model=tiny_models["zeroscope"], device=None)
    engine.generate(request_, progress=_ignore)
    engine.generate(request_, progress=_ignore)
    ZeroscopeEngine(model=tiny_models["zeroscope"]).generate(request_, progress=_ignore)

    assert len(loads) == 1
    assert len(cached_pipelines()) == 1


def test_an_empty_prompt_is_refused(zeroscope, request_):
    with pytest.raises(EngineError, match="prompt is required"):
        zeroscope.generate(replace(request_, prompt="  "), progress=_ignore)


def test_sizes_must_be_multiples_of_64(zeroscope, request_):
    with pytest.raises(EngineError, match="multiple of 64"):
        zeroscope.generate(replace(request_, width=72), progress=_ignore)


def test_image_to_video_is_not_a_zeroscope_job(zeroscope, request_):
    with pytest.raises(EngineError, match="text-to-video"):
        zeroscope.generate(replace(request_, kind="image_to_video"), progress=_ignore)


def test_missing_model_says_what_to_configure(tmp_path):
    with pytest.raises(EngineUnavailable, match="ZEROSCOPE_MODEL"):
        get_engine("zeroscope", model=str(tmp_path / "missing"), device=None)


def test_an_svd_model_is_not_a_zeroscope_model(tiny_models):
    with pytest.raises(EngineUnavailable, match="ZEROSCOPE_MODEL.*holds a StableVideoDiffusion"):
        ZeroscopeEngine(model=tiny_models["svd"])


def test_engines_are_cached_per_options(tiny_models):
    a = get_engine("zeroscope", model=tiny_models["zeroscope"], device=None)

    assert get_engine("zeroscope", device=None, model=tiny_models["zeroscope"]) is a
    assert get_engine("zeroscope", model=tiny_models["zeroscope"], device="cpu") is not a
