"""The diffusers path end to end: the API, a real Celery worker over Redis, tiny models on the CPU.

The models come from `python manage.py make_tiny_models` (random weights, the real classes and
loading code). The web side (this process) and the worker both get SVD_MODEL / ZEROSCOPE_MODEL:
the web side to choose the engine when the generation is created, the worker to load it.
"""

import json
import time
from pathlib import Path

import av
import pytest
from django.core.management import call_command

from apps.generation.models import Generation
from tests import processes
from tests.images import png_bytes, upload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FINISHED = ("succeeded", "failed", "canceled")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    pytest.importorskip("diffusers")
    folder = tmp_path_factory.mktemp("models")
    call_command("make_tiny_models", str(folder))
    return folder


def _wait(api, generation_id: str, *, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/api/v1/generations/{generation_id}/").json()
        if body["status"] in FINISHED:
            return body
        time.sleep(0.2)
    raise AssertionError(f"generation {generation_id} did not finish: {body}")


def _create_image_to_video(api, *, engine: str, params: dict) -> dict:
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "image_to_video",
            "engine": engine,
            "params": json.dumps(params),
            "image": upload(png_bytes(320, 200), name="still.png"),
        },
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_svd_on_the_tiny_model_through_the_api_and_a_real_worker(
    api, settings, model_dir, transactional_db
):
    svd, zeroscope = model_dir / "svd", model_dir / "zeroscope"
    settings.SVD_MODEL, settings.ZEROSCOPE_MODEL = str(svd), str(zeroscope)
    settings.GENERATION_ENGINE = "auto"

    with processes.celery_worker(
        SVD_MODEL=str(svd), ZEROSCOPE_MODEL=str(zeroscope), GENERATION_ENGINE="auto"
    ):
        created = _create_image_to_video(
            api,
            engine="svd",
            params={
                "width": 128,
                "height": 128,
                "num_frames": 6,
                "fps": 6,
                "num_inference_steps": 2,
                "motion_strength": 0.8,
                "seed": 7,
            },
        )
        assert created["engine"] == "svd"
        done = _wait(api, created["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["engine"] == "svd"
    assert (done["width"], done["height"], done["num_frames"]) == (128, 128, 6)
    assert done["progress"] == 1.0
    generation = Generation.objects.get(pk=created["id"])
    assert any("svd: motion bucket 204" in note for note in generation.notes)
    with av.open(generation.video.path) as container:
        stream = container.streams.video[0]
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    assert stream.codec_context.name == "h264"
    assert len(frames) == 6 and frames[0].shape == (128, 128, 3)


def test_auto_with_a_broken_model_falls_back_to_procedural_with_a_note(
    api, settings, model_dir, tmp_path, transactional_db
):
    broken = tmp_path / "broken-svd"
    broken.mkdir()
    (broken / "model_index.json").write_text("this is not json")
    settings.SVD_MODEL = str(broken)  # configured, so `auto` picks svd at create time
    settings.GENERATION_ENGINE = "auto"

    with processes.celery_worker(SVD_MODEL=str(broken), GENERATION_ENGINE="auto"):
        created = _create_image_to_video(
            api, engine="auto", params={"width": 128, "height": 64, "num_frames": 4}
        )
        assert created["engine"] == "svd"
        done = _wait(api, created["id"])

    assert done["status"] == "succeeded", done["error"]
    assert done["engine"] == "procedural"
    notes = Generation.objects.get(pk=created["id"]).notes
    assert any("svd was unavailable" in note and "SVD_MODEL" in note for note in notes), notes
