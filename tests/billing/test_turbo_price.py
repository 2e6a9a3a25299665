"""SVD's turbo tier is priced lower: SVD_TURBO_PRICE_FACTOR of the stock price, rounded up;
the quote says the same price the charge takes."""

from fractions import Fraction

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.billing.pricing import price_generation, turbo_price_factor
from apps.generation import services
from tests.images import png_bytes, upload

SVD_XT = {"width": 1024, "height": 576, "num_frames": 25, "num_inference_steps": 25}


def test_turbo_costs_the_factor_of_stock_rounded_up(settings):
    stock = price_generation(kind="image_to_video", engine="svd", params=SVD_XT)
    turbo = price_generation(
        kind="image_to_video", engine="svd", params={**SVD_XT, "quality": "turbo"}
    )
    assert (stock, turbo) == (10, 6)
    standard = {**SVD_XT, "quality": "standard"}
    assert price_generation(kind="image_to_video", engine="svd", params=standard) == 10
    settings.SVD_TURBO_PRICE_FACTOR = "0.55"
    assert turbo_price_factor() == Fraction(11, 20)
    # 10 × 14/25 × 0.55 = 3.08 → 4, exactly (a float product could land on 3.0800000001).
    params = {**SVD_XT, "num_frames": 14, "quality": "turbo"}
    assert price_generation(kind="image_to_video", engine="svd", params=params) == 4
    small = {"width": 256, "height": 256, "num_frames": 4, "num_inference_steps": 4}
    assert (
        price_generation(kind="image_to_video", engine="svd", params={**small, "quality": "turbo"})
        == 2
    )
    # Only SVD has a turbo tier; a Zeroscope quality is its steps, not a discount.
    z = {
        "width": 576,
        "height": 320,
        "num_frames": 24,
        "num_inference_steps": 20,
        "quality": "turbo",
    }
    assert price_generation(kind="text_to_video", engine="zeroscope", params=z) == 4


@pytest.mark.parametrize("bad", ["0", "1.5", "-1", "cheap", ""])
def test_a_factor_outside_0_to_1_is_a_configuration_error(settings, bad):
    settings.SVD_TURBO_PRICE_FACTOR = bad
    with pytest.raises(ImproperlyConfigured):
        turbo_price_factor()


@pytest.mark.django_db
def test_the_quote_shows_the_turbo_price_and_the_charge_takes_it(api, settings, monkeypatch):
    monkeypatch.setattr(services, "generation_enqueue", lambda *, generation: None)
    settings.SVD_MODEL = "some/model"  # priced by the work
    q = {"kind": "image_to_video", "engine": "svd"}
    stock = api.get("/api/v1/generations/quote/", q)
    turbo = api.get("/api/v1/generations/quote/", {**q, "quality": "turbo"})
    assert stock.status_code == turbo.status_code == 200, turbo.json()
    assert (stock.json()["credits"], turbo.json()["credits"]) == (10, 6)
    wrong = api.get("/api/v1/generations/quote/", {**q, "quality": "ultra"})
    assert wrong.status_code == 400 and "quality" in wrong.json()
    # Zeroscope's own quality names still quote.
    fast = api.get("/api/v1/generations/quote/", {"kind": "text_to_video", "quality": "fast"})
    assert fast.status_code == 200, fast.json()
    created = api.post(
        "/api/v1/generations/",
        {
            "kind": "image_to_video",
            "engine": "svd",
            "image": upload(png_bytes(64, 64)),
            "params": '{"quality": "turbo"}',
        },
        format="multipart",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["cost_credits"] == 6
    assert created.json()["params"]["quality"] == "turbo"
