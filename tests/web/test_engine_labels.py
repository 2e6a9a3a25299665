"""The engine that will run a video, said before the click: on the create page's Generate
buttons (image, text, storyboard) and in the home page's copy, from the server's own choice
(apps.generation.engines.engine_choose), never a promise of an engine it does not run."""

import re

import pytest
from django.test import override_settings

from apps.web.templatetags.web import engine_label

pytestmark = pytest.mark.django_db

DIFFUSION = {
    "GENERATION_ENGINE": "auto",
    "SVD_MODEL": "example/svd-not-loaded",
    "ZEROSCOPE_MODEL": "example/zeroscope-not-loaded",
}


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def generate_buttons(html: str) -> list[tuple[str, str]]:
    """(data-engine, visible label) of each Generate button."""
    found = re.findall(
        r'<button type="submit"[^>]*data-generate[^>]*data-engine="([^"]*)">(.*?)</button>', html
    )
    return [(engine, re.sub(r"<[^>]+>", "", label)) for engine, label in found]


def test_engine_labels():
    assert engine_label("procedural") == "procedural engine (CPU)"
    assert engine_label("svd") == "Stable Video Diffusion (GPU)"
    assert engine_label("zeroscope") == "Zeroscope (GPU)"
    assert engine_label("auto") == "mixed engines"
    assert engine_label("future") == "future engine"


def test_create_buttons_name_the_procedural_engine_on_a_cpu_server(signed_in):
    html = signed_in.get("/create/").content.decode()

    buttons = generate_buttons(html)
    assert [engine for engine, _ in buttons] == ["procedural"] * 3
    assert buttons[0][1] == "Generate · 1 credit · procedural engine (CPU)"
    assert buttons[1][1] == "Generate · 1 credit · procedural engine (CPU)"
    assert re.fullmatch(r"Generate · \d+ credits? · procedural engine \(CPU\)", buttons[2][1])
    # The live quote script maps the quote's `engine` with the same labels.
    assert '<script id="engine-labels" type="application/json">' in html
    assert '"svd": "Stable Video Diffusion (GPU)"' in html


@override_settings(**DIFFUSION)
def test_create_buttons_name_the_diffusion_engines_where_they_run(signed_in):
    html = signed_in.get("/create/").content.decode()

    buttons = generate_buttons(html)
    assert buttons[0][0] == "svd" and buttons[0][1].endswith(" · Stable Video Diffusion (GPU)")
    assert buttons[1][0] == "zeroscope" and buttons[1][1].endswith(" · Zeroscope (GPU)")
    assert buttons[2][0] == "zeroscope"  # the starting draft is one text scene


def test_home_promises_only_the_engines_this_server_runs(client):
    html = client.get("/").content.decode()

    assert "Stable Video Diffusion" not in html and "Zeroscope" not in html
    assert re.search(
        r"Image → Video runs on <strong>procedural engine \(CPU\)</strong> and "
        r"Text → Video on <strong>procedural engine \(CPU\)</strong>",
        html,
    )


@override_settings(**DIFFUSION)
def test_home_names_svd_and_zeroscope_when_they_run(client):
    html = client.get("/").content.decode()

    assert "Stable Video Diffusion animates your JPEG" in html
    assert "Zeroscope renders it" in html
    assert "<strong>Stable Video Diffusion (GPU)</strong>" in html
    assert "<strong>Zeroscope (GPU)</strong>" in html


@override_settings(GENERATION_ENGINE="auto", SVD_MODEL="example/svd-not-loaded", ZEROSCOPE_MODEL="")
def test_home_with_svd_only_keeps_text_to_video_procedural(client):
    html = client.get("/").content.decode()

    assert "Stable Video Diffusion animates your JPEG" in html
    assert "Zeroscope" not in html
    assert "Text → Video on <strong>procedural engine (CPU)</strong>" in html


def recipe_engine(html: str) -> tuple[str, str]:
    found = re.search(r'<dd data-field="engine" data-engine="([^"]*)">([^<]*)</dd>', html)
    return found.group(1), found.group(2)


def test_the_job_recipe_names_the_engine_like_the_create_page(signed_in, user):
    from apps.generation import services

    generation = services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="a neon koi",
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8},
    ).generation
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()

    assert recipe_engine(html) == ("procedural", "procedural engine (CPU)")
    assert "<dt>Asked for</dt><dd>the best engine available</dd>" in html

    generation.engine_requested = "svd"
    generation.save(update_fields=["engine_requested"])
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert "<dt>Asked for</dt><dd>Stable Video Diffusion (GPU)</dd>" in html
