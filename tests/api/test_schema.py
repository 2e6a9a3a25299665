"""The schema says what the server does: error responses, optional storyboard fields, strict
bodies, the quote's parameters; every error under /api/ is JSON; the docs need no internet."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.billing.models import CreditPack


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_every_operation_documents_its_errors_with_the_error_body(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {code for code in operation["responses"] if code >= "400"}
            assert errors, f"{method} {path} documents no error"
            for code in errors:
                ref = operation["responses"][code]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    create = schema["paths"]["/api/v1/generations/"]["post"]["responses"]
    assert {"400", "401", "402", "409", "503"} <= set(create)
    assert "404" in schema["paths"]["/api/v1/generations/{id}/"]["get"]["responses"]
    assert "503" in schema["paths"]["/api/v1/billing/checkout/"]["post"]["responses"]
    assert "401" not in schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]


def test_generation_output_leaves_the_storyboard_fields_optional(schema):
    output = schema["components"]["schemas"]["GenerationOutput"]
    assert not {"scenes", "subtitles_url", "story_source"} & set(output["required"])
    assert {"id", "kind", "status"} <= set(output["required"])


def test_strict_bodies_refuse_unknown_keys_and_json_has_no_files(schema):
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/generations/"]["post"]["requestBody"]["content"]
    json_body = components[body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    multipart = components[body["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert json_body["additionalProperties"] is False
    assert not {"image", "narration_audio"} & set(json_body["properties"])
    assert multipart["properties"]["image"]["format"] == "binary"
    assert body["multipart/form-data"]["encoding"]["params"] == {"contentType": "application/json"}
    assert "application/x-www-form-urlencoded" not in body


def test_the_quote_declares_its_parameters_and_refuses_unknown_ones(schema, api):
    parameters = schema["paths"]["/api/v1/generations/quote/"]["get"]["parameters"]
    names = {p["name"] for p in parameters}
    assert {"kind", "engine", "persona", "num_frames", "motion_strength", "scene_count"} <= names
    assert next(p for p in parameters if p["name"] == "kind")["required"] is True

    response = api.get("/api/v1/generations/quote/", {"kind": "text_to_video", "frames": 3})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["frames"] == ["Unknown parameter."]
    response = api.get(
        "/api/v1/generations/quote/", {"kind": "text_to_video", "motion_strength": 1}
    )
    assert response.status_code == 400
    assert "motion_strength" in response.json()


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/generations/null,null/"),
        ("post", "/api/v1/generations/null,null/cancel/"),
        ("get", "/api/v1/nothing-here/"),
        ("get", "/api/v1/me"),
    ],
)
def test_every_unmatched_path_under_the_api_answers_json(api, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_page_that_is_not_a_number_is_a_404(api):
    response = api.get("/api/v1/generations/", {"page": ""})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_checkout_of_a_pack_that_does_not_exist_is_a_400_even_without_stripe(api, settings):
    settings.STRIPE_SECRET_KEY = ""
    response = api.post(
        "/api/v1/billing/checkout/",
        {"pack": "00000000-0000-0000-0000-000000000001"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "pack_unavailable"
    assert "pack" in response.json()
    pack = CreditPack.objects.filter(active=True).first()
    response = api.post("/api/v1/billing/checkout/", {"pack": str(pack.pk)}, format="json")
    assert response.status_code == 503


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_load_only_local_assets(db, page):
    client = Client()
    html = client.get(page)
    assert html.status_code == 200
    text = html.content.decode()
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", text)
    assert assets, text[:2000]
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        assert not asset.startswith("//"), asset
        if asset.startswith("/static/"):
            assert client.get(asset).status_code == 200, asset
    assert "cdn" not in text.lower()


def test_a_strict_body_refuses_a_number_where_the_schema_says_a_string(api):
    response = api.post("/api/v1/personas/", {"name": 3201}, format="json")
    assert response.status_code == 400
    assert response.json()["name"] == ["Not a valid string."]
    assert api.post("/api/v1/personas/", {"name": "3201"}, format="json").status_code == 201


def test_sizes_are_multiples_of_8_wherever_they_are_taken(schema):
    components = schema["components"]["schemas"]
    assert components["PersonaDefaultsRequest"]["properties"]["height"]["multipleOf"] == 8
    quote = schema["paths"]["/api/v1/generations/quote/"]["get"]["parameters"]
    width = next(p for p in quote if p["name"] == "width")
    assert width["schema"]["multipleOf"] == 8
