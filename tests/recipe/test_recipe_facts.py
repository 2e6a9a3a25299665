"""workers.recipe and the pipeline's recipe: the model revision of a local folder, of a hub
cache snapshot and of a hub id, the versions and device, and the engine's generation time."""

from __future__ import annotations

import os
import shutil
import tomllib
from pathlib import Path

import diffusers
import pytest
import torch

from apps.generation.runtime import common_recipe
from workers import recipe
from workers.engines.base import VideoRequest
from workers.engines.procedural import ProceduralEngine
from workers.engines.zeroscope import ZeroscopeEngine
from workers.pipeline import render_video
from workers.storyboard.chain import AnchoredEngine

pytestmark = pytest.mark.usefixtures("fresh_engines")

COMMIT = "0123456789abcdef0123456789abcdef01234567"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _ignore(stage: str, step: int, total: int) -> None:
    pass


def _text_request(**extra) -> VideoRequest:
    return VideoRequest(
        kind="text_to_video",
        prompt="a neon fox",
        width=64,
        height=64,
        fps=4,
        num_frames=4,
        num_inference_steps=2,
        seed=3,
        **extra,
    )


@pytest.fixture
def zeroscope_dir(tiny_models, tmp_path) -> Path:
    """A private copy of the tiny zeroscope model, free to change."""
    return Path(shutil.copytree(tiny_models["zeroscope"], tmp_path / "zeroscope"))


def _expected_versions() -> dict:
    return {
        "platform": tomllib.loads(PYPROJECT.read_text())["project"]["version"],
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
    }


def test_procedural_render_records_its_version_the_cpu_and_the_software(tmp_path):
    result = render_video(
        _text_request(), engine=ProceduralEngine(), out_dir=tmp_path, progress=_ignore
    )

    assert result.generation_time > 0
    facts = result.recipe
    assert facts["engine"] == "procedural"
    assert facts["model"] == "procedural"
    assert facts["model_revision"] == ProceduralEngine.version
    assert facts["model_revision_source"] == "engine_version"
    assert facts["device"] == "cpu"
    versions = facts["versions"]
    assert {k: versions[k] for k in ("platform", "torch", "diffusers")} == _expected_versions()
    assert versions["ffmpeg"].startswith("ffmpeg version ")
    assert "Copyright" not in versions["ffmpeg"]


def test_a_wrapped_engine_is_described_by_the_engine_it_wraps(tmp_path):
    still = tmp_path / "still.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 10, 90)).save(still)
    facts = recipe.describe(AnchoredEngine(ProceduralEngine(), still))
    assert (facts["model"], facts["model_revision"]) == ("procedural", ProceduralEngine.version)


def test_a_local_model_folder_is_hashed_and_the_hash_follows_its_files(zeroscope_dir, tmp_path):
    engine = ZeroscopeEngine(model=str(zeroscope_dir), device="cpu")
    result = render_video(
        _text_request(), engine=engine, out_dir=tmp_path / "out", progress=_ignore
    )

    facts = result.recipe
    assert facts["engine"] == "zeroscope"
    assert facts["model"] == str(zeroscope_dir.resolve())
    assert facts["model_revision_source"] == "folder_hash"
    assert len(facts["model_revision"]) == recipe.REVISION_DIGITS
    assert facts["device"] == "cpu"
    assert result.generation_time > 0
    assert {k: facts["versions"][k] for k in ("platform", "torch", "diffusers")} == (
        _expected_versions()
    )

    # Stable while nothing changes: again, and described without running.
    before = facts["model_revision"]
    assert recipe.folder_hash(zeroscope_dir) == before
    assert recipe.describe(engine)["model_revision"] == before

    # A config file's contents, same size and times: another revision.
    config = zeroscope_dir / "scheduler" / "scheduler_config.json"
    stat = config.stat()
    text = config.read_text()
    changed = text.replace('"beta_end": 0.012', '"beta_end": 0.013')
    assert changed != text and len(changed) == len(text)
    config.write_text(changed)
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert recipe.folder_hash(zeroscope_dir) != before
    config.write_text(text)
    os.utime(config, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert recipe.folder_hash(zeroscope_dir) == before

    # A weight file rewritten (a new mtime), or one more file: another revision.
    weights = next((zeroscope_dir / "unet").glob("*.safetensors"))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    touched = recipe.folder_hash(zeroscope_dir)
    assert touched != before
    (zeroscope_dir / "unet" / "extra.bin").write_bytes(b"\0")
    assert recipe.folder_hash(zeroscope_dir) not in (before, touched)


def test_a_hub_cache_snapshot_folder_records_its_commit(tiny_models, tmp_path):
    snapshot = tmp_path / "hub" / "models--acme--tiny-zeroscope" / "snapshots" / COMMIT
    shutil.copytree(tiny_models["zeroscope"], snapshot)
    engine = ZeroscopeEngine(model=str(snapshot), device="cpu")

    result = render_video(
        _text_request(), engine=engine, out_dir=tmp_path / "out", progress=_ignore
    )

    assert result.recipe["model"] == "acme/tiny-zeroscope"
    assert result.recipe["model_revision"] == COMMIT
    assert result.recipe["model_revision_source"] == "hub_commit"


def test_a_hub_id_records_the_commit_of_its_cached_snapshot(tmp_path, monkeypatch):
    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--acme--tiny-svd"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    (repo / "snapshots" / COMMIT).mkdir(parents=True)
    (repo / "snapshots" / COMMIT / "model_index.json").write_text("{}")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))

    assert recipe.model_facts("acme/tiny-svd") == {
        "model": "acme/tiny-svd",
        "model_revision": COMMIT,
        "model_revision_source": "hub_commit",
    }
    assert recipe.model_facts("acme/not-downloaded") == {
        "model": "acme/not-downloaded",
        "model_revision": None,
        "model_revision_source": "unknown",
    }


def test_a_storyboard_keeps_what_its_scenes_share():
    a = {"engine": "procedural", "device": "cpu", "versions": {"torch": "1"}, "model": "x"}
    b = {"engine": "zeroscope", "device": "cpu", "versions": {"torch": "1"}, "model": "y"}
    assert common_recipe([a, b]) == {"device": "cpu", "versions": {"torch": "1"}}
    assert common_recipe([a, {}]) == {}
    assert common_recipe([]) == {}


def test_a_cuda_device_is_named_with_its_index_and_gpu(monkeypatch):
    # No GPU on the test machines: torch's CUDA queries answer as on an H100 worker would.
    names = {0: "NVIDIA H100 80GB HBM3", 1: "NVIDIA L4"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: names[index])

    assert recipe.device_label("cuda") == "cuda:0 NVIDIA H100 80GB HBM3"
    assert recipe.device_label("cuda:1") == "cuda:1 NVIDIA L4"
    assert recipe.device_label("cpu") == "cpu"
