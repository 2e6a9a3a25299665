"""DIFFUSERS_WARMUP: the spec, the warm-up itself on the tiny models, and a real Celery worker that
warms up before it consumes, then runs a job that was waiting in the queue."""

import json
import time

import pytest

from workers.engines.base import EngineUnavailable
from workers.warmup import WarmupSize, parse_warmup, warm_up


def test_the_spec_lists_engine_and_size_entries():
    assert parse_warmup(" svd:1024x576x25, zeroscope:576x320x24 ,svd:512x512x14:turbo,") == [
        WarmupSize("svd", 1024, 576, 25),
        WarmupSize("zeroscope", 576, 320, 24),
        WarmupSize("svd", 512, 512, 14, "turbo"),
    ]
    assert parse_warmup("") == [] and parse_warmup(" , ") == []
    assert str(WarmupSize("svd", 512, 512, 14, "turbo")) == "svd:512x512x14:turbo"


@pytest.mark.parametrize(
    "bad", ["svd", "svd:1024x576", "sdxl:64x64x2", "zeroscope:64x64x2:turbo", "svd:0x64x2"]
)
def test_a_malformed_entry_says_what_to_write(bad):
    with pytest.raises(EngineUnavailable, match="DIFFUSERS_WARMUP entry"):
        parse_warmup(bad)


@pytest.mark.usefixtures("fresh_engines")
def test_warm_up_runs_each_size_through_its_engine(tiny_models):
    from workers.engines import get_engine
    from workers.engines.diffusion import cached_pipelines

    sizes = parse_warmup("svd:64x64x3,svd:64x64x3:turbo,zeroscope:64x64x2,svd:64x64x99")
    results = warm_up(sizes, engine_for=lambda name: get_engine(name, model=tiny_models[name]))
    assert [r.size for r in results] == sizes
    assert [bool(r.error) for r in results] == [False, False, False, True]
    assert "at most 25 frames" in results[3].error  # a failed size is reported, the rest ran
    loaded = {key[0]: p for key, p in cached_pipelines().items()}
    assert len(loaded) == 2  # both models are loaded and stay loaded for the jobs
    svd = next(p for p in loaded.values() if p.turbo is not None)
    assert svd.turbo.stats.full == 1 and svd.turbo.stats.shallow == 1  # 2 steps, interval 3


def _index(lines: list[str], text: str) -> int:
    for i, line in enumerate(lines):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in the worker's log:\n" + "\n".join(lines[-60:]))


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_worker_warms_up_before_it_consumes_then_runs_the_waiting_job(
    api, settings, tiny_models, tmp_path
):
    from apps.generation.models import Generation
    from tests import processes
    from tests.images import png_bytes, upload

    settings.SVD_MODEL = tiny_models["svd"]
    settings.GENERATION_ENGINE = "auto"
    # The job is queued before the worker starts: it is in Redis, waiting.
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "image_to_video",
            "engine": "svd",
            "params": json.dumps(
                {
                    "width": 64,
                    "height": 64,
                    "num_frames": 4,
                    "num_inference_steps": 3,
                    "seed": 5,
                    "quality": "turbo",
                }
            ),
            "image": upload(png_bytes(80, 64)),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    generation_id = response.json()["id"]
    log = tmp_path / "worker.log"
    with processes.celery_worker(
        log=log,
        SVD_MODEL=tiny_models["svd"],
        GENERATION_ENGINE="auto",
        DIFFUSERS_WARMUP="svd:64x64x4,svd:64x64x4:turbo",
    ):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status = Generation.objects.get(pk=generation_id).status
            if status in ("succeeded", "failed", "canceled"):
                break
            time.sleep(0.2)
    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == "succeeded", generation.error
    # The job asked for SVD's turbo tier: the engine ran it (and the worker had warmed it up).
    assert any("turbo (the whole UNet every 3 steps)" in note for note in generation.notes)
    lines = log.read_text().splitlines()
    warm = _index(lines, "Warm-up: svd:64x64x4 done in")
    turbo = _index(lines, "Warm-up: svd:64x64x4:turbo done in")
    gate = _index(lines, "Warm-up: done; consuming")
    received = _index(lines, "Task generation.run[")
    assert "] received" in lines[received]
    assert warm < turbo < gate < received
    assert _index(lines, "Warm-up finished in") < gate
    assert "2 size(s), 0 failed" in lines[_index(lines, "Warm-up finished in")]


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_a_warm_up_past_its_timeout_lets_the_worker_consume_anyway(tiny_models, tmp_path):
    from tests import processes

    log = tmp_path / "worker.log"
    with processes.celery_worker(
        log=log,
        SVD_MODEL=tiny_models["svd"],
        GENERATION_ENGINE="auto",
        DIFFUSERS_WARMUP="svd:64x64x4,svd:64x64x4:turbo,svd:128x128x8",
        DIFFUSERS_WARMUP_TIMEOUT="0.5",
    ):
        lines = log.read_text().splitlines()
        gate = _index(lines, "Warm-up: not finished after 0 s; consuming anyway")
        assert gate < _index(lines, " ready.")
        # The child was not killed for being slow to come up: it finishes its warm-up.
        deadline = time.monotonic() + 60
        while "Warm-up finished in" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        lines = log.read_text().splitlines()
        assert gate < _index(lines, "Warm-up finished in")
