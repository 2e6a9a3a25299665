"""The svd engine on a tiny random-weight SVD model, loaded through the worker's real code."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

import torch  # noqa: E402

from workers.engines import get_engine  # noqa: E402
from workers.engines.base import (  # noqa: E402
    EngineError,
    EngineUnavailable,
    GenerationCanceled,
    VideoRequest,
)
from workers.engines.diffusion import (  # noqa: E402
    LoadedPipeline,
    cached_pipelines,
    call_with_oom_retry,
    optimize_pipeline,
)
from workers.engines.svd import SVDEngine, motion_bucket_id  # noqa: E402
from workers.media.probe import probe  # noqa: E402
from workers.pipeline import render_video  # noqa: E402

pytestmark = pytest.mark.usefixtures("fresh_engines")

W, H = 64, 64


@pytest.fixture
def svd(tiny_models) -> SVDEngine:
    return get_engine("svd", model=tiny_models["svd"], device=None)


@pytest.fixture
def request_(image_file) -> VideoRequest:
    return VideoRequest(
        kind="image_to_video",
        image_path=image_file(96, 80),
        width=W,
        height=H,
        fps=6,
        num_frames=4,
        num_inference_steps=3,
        motion_strength=0.75,
        noise_aug_strength=0.05,
        seed=1234,
        extra={"decode_chunk_size": 2, "min_guidance_scale": 1.5, "max_guidance_scale": 2.5},
    )


def _ignore(stage: str, step: int, total: int) -> None:
    pass


def _frames(engine, request, progress=_ignore) -> np.ndarray:
    clip = engine.generate(request, progress=progress)
    return np.stack(list(clip.frames))


def _replace(request: VideoRequest, **changes) -> VideoRequest:
    from dataclasses import replace

    return replace(request, **changes)


def test_motion_strength_maps_onto_motion_buckets():
    assert motion_bucket_id(0.0) == 1
    assert motion_bucket_id(0.5) == 128
    assert motion_bucket_id(1.0) == 255
    assert motion_bucket_id(7) == 255 and motion_bucket_id(-1) == 1


def test_generate_returns_uint8_frames_of_the_asked_size(svd, request_):
    clip = svd.generate(request_, progress=_ignore)
    frames = list(clip.frames)

    assert (clip.engine, clip.width, clip.height, clip.fps, clip.num_frames) == (
        "svd",
        W,
        H,
        6.0,
        4,
    )
    assert len(frames) == 4
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in frames)
    assert "motion bucket 192" in clip.notes[0]


def test_parameters_reach_the_pipeline(svd, request_, pipeline_calls):
    calls = pipeline_calls(svd.load(_ignore).pipe)

    svd.generate(request_, progress=_ignore)

    (kwargs,) = calls
    assert kwargs["motion_bucket_id"] == 192  # 1 + 254 * 0.75, rounded half up
    assert kwargs["fps"] == 6
    assert kwargs["num_frames"] == 4
    assert kwargs["num_inference_steps"] == 3
    assert kwargs["noise_aug_strength"] == 0.05
    assert (kwargs["min_guidance_scale"], kwargs["max_guidance_scale"]) == (1.5, 2.5)
    assert kwargs["decode_chunk_size"] == 2
    assert (kwargs["width"], kwargs["height"]) == (W, H)
    assert kwargs["output_type"] == "np"
    assert kwargs["generator"].initial_seed() == 1234
    assert kwargs["image"].size == (W, H)
    assert kwargs["callback_on_step_end_tensor_inputs"] == ["latents"]


def test_defaults_for_guidance_and_decode_chunks(svd, request_, pipeline_calls):
    calls = pipeline_calls(svd.load(_ignore).pipe)

    svd.generate(_replace(request_, extra={}), progress=_ignore)

    assert (calls[0]["min_guidance_scale"], calls[0]["max_guidance_scale"]) == (1.0, 3.0)
    assert calls[0]["decode_chunk_size"] == 4  # the default 8, capped at the frame count


def test_same_seed_same_video_other_seed_another(svd, request_):
    first = _frames(svd, request_)
    again = _frames(svd, request_)
    other = _frames(svd, _replace(request_, seed=99))

    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_progress_per_denoising_step_and_per_decode_chunk(svd, request_, recorder):
    events = recorder()

    svd.generate(_replace(request_, num_frames=5), progress=events)

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


def test_cancel_mid_run_stops_the_pipeline(svd, request_, recorder):
    events = recorder(raise_at=("generating", 2), exc=GenerationCanceled())
    pipe = svd.load(_ignore).pipe

    with pytest.raises(GenerationCanceled):
        svd.generate(request_, progress=events)

    assert events[-1] == ("generating", 2, 3)
    assert not events.stage("decoding")
    assert "decode" not in vars(pipe.vae)  # the decode wrapper is gone

    assert len(list(svd.generate(request_, progress=_ignore).frames)) == 4  # still usable


def test_cancel_while_decoding(svd, request_, recorder):
    events = recorder(raise_at=("decoding", 1), exc=GenerationCanceled())

    with pytest.raises(GenerationCanceled):
        svd.generate(request_, progress=events)

    assert events[-1] == ("decoding", 1, 2)


def test_out_of_memory_retries_once_with_one_frame_per_decode(
    svd, request_, pipeline_calls, monkeypatch
):
    pipe = svd.load(_ignore).pipe
    calls = pipeline_calls(pipe)
    emptied = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: emptied.append(1))
    forward = pipe.unet.forward
    failures = []

    def forward_out_of_memory_once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return forward(*args, **kwargs)

    monkeypatch.setattr(pipe.unet, "forward", forward_out_of_memory_once)

    clip = svd.generate(request_, progress=_ignore)

    assert len(list(clip.frames)) == 4
    assert [c["decode_chunk_size"] for c in calls] == [2, 1]
    assert emptied
    assert any("ran out of memory" in note for note in clip.notes)


def test_out_of_memory_twice_is_a_clear_engine_error(svd, request_, monkeypatch):
    pipe = svd.load(_ignore).pipe

    def always_out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(pipe.vae, "decode", always_out_of_memory)

    with pytest.raises(EngineError, match="ran out of memory.*fewer frames or a smaller"):
        svd.generate(request_, progress=_ignore)


def test_out_of_memory_on_cuda_switches_cpu_offload_on_before_the_retry():
    class FakePipe:
        offload_calls: list = []

        def enable_model_cpu_offload(self, device=None):
            self.offload_calls.append(device)

    loaded = LoadedPipeline(pipe=FakePipe(), model="m", device="cuda", dtype=torch.float16)
    attempts = []

    def attempt(low_memory: bool):
        attempts.append((low_memory, loaded.offloaded))
        if not low_memory:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return "frames"

    notes: list[str] = []
    assert call_with_oom_retry(attempt, loaded=loaded, engine="svd", notes=notes) == "frames"
    assert attempts == [(False, False), (True, True)]
    assert FakePipe.offload_calls == ["cuda"]
    assert "CPU offload" in notes[0]


def test_second_load_is_free(tiny_models, request_, monkeypatch):
    from diffusers import StableVideoDiffusionPipeline

    loads = []
    original = StableVideoDiffusionPipeline.from_pretrained

    def counting_from_pretrained(*args, **kwargs):
        loads.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(StableVideoDiffusionPipeline, "from_pretrained", counting_from_pretrained)
    first_engine = get_engine("svd", model=tiny_models["svd"], device=None)
    first_engine.generate(request_, progress=_ignore)
    pipe = first_engine.load(_ignore).pipe

    assert get_engine("svd", model=tiny_models["svd"], device=None) is first_engine
    other_engine = SVDEngine(model=tiny_models["svd"], device="cpu")  # same key, new engine
    other_engine.generate(request_, progress=_ignore)

    assert len(loads) == 1
    assert other_engine.load(_ignore).pipe is pipe
    ((key, loaded),) = cached_pipelines().items()
    assert key[1:] == ("float32", "cpu") and loaded.pipe is pipe


def test_frames_beyond_the_model_limit_are_refused(svd, request_, recorder):
    events = recorder()

    with pytest.raises(EngineError, match="at most 25 frames.*asked for 26"):
        svd.generate(_replace(request_, num_frames=26), progress=events)

    assert not events.stage("generating")


def test_image_is_centre_cropped_to_the_target_aspect_not_stretched(
    svd, request_, pipeline_calls, tmp_path
):
    # A wide still: red | green | blue thirds. A square crop keeps the green middle only.
    wide = np.zeros((60, 180, 3), dtype=np.uint8)
    wide[:, :60, 0] = wide[:, 60:120, 1] = wide[:, 120:, 2] = 255
    path = tmp_path / "wide.png"
    Image.fromarray(wide).save(path)
    calls = pipeline_calls(svd.load(_ignore).pipe)

    svd.generate(_replace(request_, image_path=str(path)), progress=_ignore)

    image = np.asarray(calls[0]["image"])
    assert image.shape == (H, W, 3)
    assert image[..., 1].mean() > 240 and image[..., 0].mean() < 10 and image[..., 2].mean() < 10


def test_tall_image_keeps_its_middle(svd, request_, pipeline_calls, tmp_path):
    tall = np.zeros((300, 100, 3), dtype=np.uint8)
    tall[:100, :, 0] = tall[100:200, :, 1] = tall[200:, :, 2] = 255
    path = tmp_path / "tall.png"
    Image.fromarray(tall).save(path)
    calls = pipeline_calls(svd.load(_ignore).pipe)

    svd.generate(_replace(request_, image_path=str(path), width=128, height=64), progress=_ignore)

    image = np.asarray(calls[0]["image"])
    assert image.shape == (64, 128, 3)
    assert image[..., 1].mean() > 240


@pytest.mark.parametrize(("width", "height"), [(100, 64), (64, 96), (0, 64)])
def test_sizes_must_be_multiples_of_64(svd, request_, width, height):
    with pytest.raises(EngineError, match="multiple of 64"):
        svd.generate(_replace(request_, width=width, height=height), progress=_ignore)


def test_text_to_video_is_not_an_svd_job(svd, request_):
    with pytest.raises(EngineError, match="image-to-video"):
        svd.generate(_replace(request_, kind="text_to_video"), progress=_ignore)


def test_missing_image_is_an_engine_error(svd, request_):
    with pytest.raises(EngineError, match="image is required"):
        svd.generate(_replace(request_, image_path=None), progress=_ignore)


def test_missing_model_directory_says_what_to_configure(tmp_path):
    with pytest.raises(EngineUnavailable, match="SVD_MODEL") as caught:
        get_engine("svd", model=str(tmp_path / "nowhere" / "svd"), device=None)

    assert "no such directory" in str(caught.value)


def test_unconfigured_model_says_what_to_configure():
    with pytest.raises(EngineUnavailable, match="No model is configured.*SVD_MODEL"):
        get_engine("svd", model="", device=None)


def test_directory_without_a_pipeline_is_unavailable(tmp_path):
    (tmp_path / "model_index.json").write_text("{not json")

    with pytest.raises(EngineUnavailable, match="SVD_MODEL.*not a diffusers model directory"):
        SVDEngine(model=str(tmp_path))


def test_a_zeroscope_model_is_not_an_svd_model(tiny_models):
    with pytest.raises(EngineUnavailable, match="holds a TextToVideoSDPipeline"):
        SVDEngine(model=tiny_models["zeroscope"])


def test_model_with_broken_weights_fails_on_load_naming_the_setting(
    tiny_models, tmp_path, request_
):
    broken = tmp_path / "svd"
    shutil.copytree(tiny_models["svd"], broken)
    for weights in broken.glob("unet/*.safetensors"):
        weights.write_bytes(b"not a safetensors file")
    engine = SVDEngine(model=str(broken))  # the cheap check passes

    with pytest.raises(EngineUnavailable, match="could not be loaded.*Set SVD_MODEL"):
        engine.generate(request_, progress=_ignore)

    assert not cached_pipelines()


def test_cuda_device_without_a_gpu_is_unavailable(tiny_models, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("TORCH_DEVICE", "cuda")

    with pytest.raises(EngineUnavailable, match="TORCH_DEVICE.*no CUDA GPU"):
        SVDEngine(model=tiny_models["svd"])


def test_unknown_dtype_or_optimisation_is_unavailable(tiny_models, monkeypatch):
    monkeypatch.setenv("DIFFUSERS_DTYPE", "float8")
    with pytest.raises(EngineUnavailable, match="DIFFUSERS_DTYPE"):
        SVDEngine(model=tiny_models["svd"])

    monkeypatch.delenv("DIFFUSERS_DTYPE")
    monkeypatch.setenv("DIFFUSERS_OPTIMIZE", "warp_drive")
    with pytest.raises(EngineUnavailable, match="DIFFUSERS_OPTIMIZE"):
        SVDEngine(model=tiny_models["svd"])


def test_cpu_is_float32_and_offload_is_a_no_op_there(tiny_models, request_, monkeypatch):
    monkeypatch.setenv("DIFFUSERS_CPU_OFFLOAD", "1")
    engine = SVDEngine(model=tiny_models["svd"])

    clip = engine.generate(_replace(request_, extra={"cpu_offload": True}), progress=_ignore)

    loaded = engine.load(_ignore)
    assert (engine.device, engine.dtype) == ("cpu", torch.float32)
    assert loaded.offloaded is False and loaded.pipe.unet.dtype == torch.float32
    assert len(list(clip.frames)) == 4


def test_fused_qkv_and_channels_last_keep_the_video(tiny_models, request_):
    engine = SVDEngine(model=tiny_models["svd"])
    before = _frames(engine, request_)

    applied = optimize_pipeline(engine.load(_ignore).pipe, fuse_qkv=True, channels_last=True)

    assert applied == ["fuse_qkv", "channels_last"]
    after = _frames(engine, request_)
    assert np.abs(before.astype(int) - after.astype(int)).max() <= 2


def test_optimisations_from_the_environment_apply_once_at_load(tiny_models, monkeypatch):
    monkeypatch.setenv("DIFFUSERS_OPTIMIZE", "fuse_qkv,cudnn_benchmark")
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)

    loaded = SVDEngine(model=tiny_models["svd"]).load(_ignore)

    assert loaded.optimizations == ("cudnn_benchmark", "fuse_qkv")
    assert torch.backends.cudnn.benchmark is True


def test_render_video_encodes_an_svd_clip(svd, request_, tmp_path, recorder):
    events = recorder()

    result = render_video(request_, engine=svd, out_dir=tmp_path / "out", progress=events)

    info = probe(result.video_path)
    assert (info.codec, info.width, info.height, info.num_frames) == ("h264", W, H, 4)
    assert result.engine == "svd"
    stages = [stage for stage, _, _ in events]
    assert stages.index("generating") < stages.index("decoding") < stages.index("encoding")


def test_tiny_model_is_saved_like_a_real_one(tiny_models):
    index = json.loads((Path(tiny_models["svd"]) / "model_index.json").read_text())

    assert index["_class_name"] == "StableVideoDiffusionPipeline"
    assert {"unet", "vae", "image_encoder", "scheduler", "feature_extractor"} <= set(index)
