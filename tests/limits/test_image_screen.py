"""The image screen: a transformers image-classification model (here a tiny random-weight ViT
saved by the test) refuses pictures before anything is charged or stored; off, nothing of the
ML stack is loaded; asked for without transformers, the process stops with a clear error."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.core import image_screen as screen
from tests.images import png_bytes, upload
from tests.limits.conftest import URL, Untouched, assert_error
from tests.processes import ROOT, process_env
from tests.storyboard.conftest import multipart, png_upload, storyboard_body, text_scene


def save_tiny_classifier(folder, *, favour: str) -> str:
    """A 1-layer ViT for 32×32 pictures with labels normal/nsfw, random weights, and a
    classifier bias that makes `favour` win on any picture; saved with its image processor."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    labels = {0: "normal", 1: "nsfw"}
    config = ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        num_labels=2,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    torch.manual_seed(0)
    model = ViTForImageClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(0.01)
        model.classifier.bias.copy_(torch.tensor([4.0, -4.0] if favour == "normal" else [-4, 4]))
    model.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def screen_with(settings, tmp_path):
    def configure(favour: str) -> None:
        settings.IMAGE_SCREEN_MODEL = save_tiny_classifier(tmp_path / favour, favour=favour)
        settings.IMAGE_SCREEN_LABELS = ["NSFW"]
        settings.IMAGE_SCREEN_THRESHOLD = 0.9

    yield configure
    screen._classifier.cache_clear()


def image_body() -> dict:
    return {
        "kind": "image_to_video",
        "engine": "procedural",
        "image": upload(png_bytes()),
        "params": json.dumps({"num_frames": 8}),
    }


@pytest.mark.django_db
def test_a_refused_picture_is_a_400_that_charges_and_stores_nothing(api, user, screen_with):
    screen_with("nsfw")
    untouched = Untouched(user)
    body = assert_error(api.post(URL, image_body(), format="multipart"), 400, "image_refused")
    assert body["label"] == "nsfw" and body["score"] >= 0.9
    assert "image screen" in body["detail"] and "nothing was charged" in body["detail"]
    untouched.check()


@pytest.mark.django_db
def test_a_storyboards_scene_pictures_are_screened_too(api, user, screen_with):
    screen_with("nsfw")
    untouched = Untouched(user)
    scenes = [text_scene(), {"duration": 1.0, "engine": "procedural"}]
    body = multipart(storyboard_body(scenes), scene_image_1=png_upload())
    refused = assert_error(api.post(URL, body, format="multipart"), 400, "image_refused")
    assert refused["detail"].startswith("scene_image_1:")
    untouched.check()


@pytest.mark.django_db
def test_a_picture_the_model_passes_is_created(api, user, screen_with, no_enqueue):
    screen_with("normal")
    response = api.post(URL, image_body(), format="multipart")
    assert response.status_code == 201, response.json()
    assert screen.image_screen_scores(data=png_bytes())["normal"] > 0.9


def test_the_threshold_decides(settings, screen_with):
    screen_with("nsfw")
    settings.IMAGE_SCREEN_THRESHOLD = 1.0  # a score never reaches it
    screen.image_screen(data=png_bytes())
    settings.IMAGE_SCREEN_THRESHOLD = 0.5
    with pytest.raises(screen.ImageRefused):
        screen.image_screen(data=png_bytes())
    settings.IMAGE_SCREEN_LABELS = ["violence"]  # not a label this model refuses for
    screen.image_screen(data=png_bytes())


def test_asked_for_without_transformers_is_a_clear_config_error(settings, monkeypatch):
    settings.IMAGE_SCREEN_MODEL = "some/model"
    real = screen.importlib.util.find_spec
    monkeypatch.setattr(
        screen.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "transformers" else real(name, *a),
    )
    with pytest.raises(ImproperlyConfigured, match="transformers is not installed"):
        screen.image_screen_check_config()
    settings.IMAGE_SCREEN_MODEL = ""
    screen.image_screen_check_config()  # off: nothing to check


def test_off_the_web_side_never_imports_the_ml_stack():
    probe = (
        "import django, sys; django.setup();"
        "from apps.core.image_screen import image_screen; from tests.images import png_bytes;"
        "import apps.generation.services, config.urls; image_screen(data=png_bytes());"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=process_env(IMAGE_SCREEN_MODEL=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.django_db
def test_a_personas_reference_image_is_screened_when_uploaded(api, user, screen_with):
    from apps.personas.models import Persona

    screen_with("nsfw")
    untouched = Untouched(user)
    body = {"name": "Mascot", "reference_image": upload(png_bytes(200, 120))}
    refused = assert_error(
        api.post("/api/v1/personas/", body, format="multipart"), 400, "image_refused"
    )
    assert refused["detail"].startswith("reference_image:")
    assert not Persona.objects.filter(user=user).exists()
    persona = Persona.objects.create(user=user, name="Plain")
    replaced = api.patch(
        f"/api/v1/personas/{persona.pk}/",
        {"reference_image": upload(png_bytes(200, 120))},
        format="multipart",
    )
    assert_error(replaced, 400, "image_refused")
    persona.refresh_from_db()
    assert not persona.reference_image
    untouched.check()
