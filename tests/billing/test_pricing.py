"""The one pricing function, checked against the examples in docs/billing.md."""

import pytest

from apps.billing.pricing import price_generation


def diffusion(width, height, frames, steps):
    return {"width": width, "height": height, "num_frames": frames, "num_inference_steps": steps}


@pytest.mark.parametrize(
    ("kind", "engine", "params", "credits"),
    [
        ("text_to_video", "procedural", {"num_frames": 48}, 1),
        ("image_to_video", "procedural", {}, 1),
        ("image_to_video", "svd", diffusion(1024, 576, 25, 25), 10),
        ("image_to_video", "svd", diffusion(1024, 576, 14, 25), 6),
        ("image_to_video", "svd", diffusion(512, 320, 25, 25), 3),
        ("image_to_video", "svd", diffusion(1024, 576, 25, 50), 20),
        ("text_to_video", "zeroscope", diffusion(576, 320, 24, 20), 4),
        ("text_to_video", "zeroscope", diffusion(576, 320, 24, 50), 10),
        ("text_to_video", "zeroscope", diffusion(320, 192, 16, 20), 2),
        (
            "storyboard",
            "zeroscope",
            {
                "scenes": [
                    {"engine": "zeroscope", "params": diffusion(576, 320, 24, 20)},
                    {"engine": "zeroscope", "params": diffusion(576, 320, 24, 20)},
                    {"engine": "procedural"},
                ]
            },
            10,
        ),
    ],
)
def test_documented_prices(kind, engine, params, credits):
    assert price_generation(kind=kind, engine=engine, params=params) == credits


def test_price_grows_with_the_work():
    small = price_generation(
        kind="image_to_video", engine="svd", params=diffusion(512, 320, 25, 25)
    )
    large = price_generation(
        kind="image_to_video", engine="svd", params=diffusion(1024, 576, 25, 25)
    )
    assert 2 <= small < large
