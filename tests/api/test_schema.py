"""The schema says what the server does: error responses, optional storyboard fields, strict
bodies, the quote's parameters; every error under /api/ is JSON; the docs need no internet."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.billing.models import CreditPack
from apps.generation.models import Generation


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


def _component(components, ref):
    return components[ref["$ref"].rsplit("/", 1)[1]]


def test_strict_bodies_refuse_unknown_keys_and_json_has_no_files(schema):
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/generations/"]["post"]["requestBody"]["content"]
    json_union = _component(components, body["application/json"]["schema"])
    multipart = _component(components, body["multipart/form-data"]["schema"])
    assert json_union["discriminator"]["propertyName"] == "kind"
    assert schema["paths"]["/api/v1/generations/"]["post"]["requestBody"]["required"] is True
    json_bodies = {
        kind: _component(components, {"$ref": ref})
        for kind, ref in json_union["discriminator"]["mapping"].items()
    }
    assert set(json_bodies) == {"image_to_video", "text_to_video", "storyboard"}
    for kind, json_body in json_bodies.items():
        assert json_body["additionalProperties"] is False, kind
        assert not {"image", "narration_audio"} & set(json_body["properties"]), kind
    assert multipart["additionalProperties"] is False
    assert multipart["properties"]["image"]["format"] == "binary"
    assert multipart["properties"]["narration_audio"]["format"] == "binary"
    # No combinator beside files (fuzzers cannot judge one over a body with files in it).
    for name, component in components.items():
        if any(v.get("format") == "binary" for v in component.get("properties", {}).values()):
            assert not {"allOf", "anyOf", "oneOf", "not"} & set(component), name
    assert body["multipart/form-data"]["encoding"]["params"] == {"contentType": "application/json"}
    assert "application/x-www-form-urlencoded" not in body


def test_each_kind_has_its_own_body(schema):
    """The parameters, engines and required fields of each kind; without files (JSON) an
    image-to-video job needs a persona for its picture."""
    components = schema["components"]["schemas"]
    body = schema["paths"]["/api/v1/generations/"]["post"]["requestBody"]["content"]
    mapping = _component(components, body["application/json"]["schema"])["discriminator"]
    json_bodies = {k: _component(components, {"$ref": r}) for k, r in mapping["mapping"].items()}
    image, text, board = (
        json_bodies["image_to_video"],
        json_bodies["text_to_video"],
        json_bodies["storyboard"],
    )
    params = _component(components, image["properties"]["params"])
    assert params["additionalProperties"] is False
    assert "motion_strength" in params["properties"]
    assert "guidance_scale" not in params["properties"]
    assert "guidance_scale" in _component(components, text["properties"]["params"])["properties"]
    assert "scenes" not in image["properties"] and "scenes" in board["properties"]
    assert set(image["required"]) == {"kind", "persona"}
    assert set(text["required"]) == {"kind", "prompt"}
    assert text["properties"]["prompt"]["minLength"] == 1
    engines = _component(components, text["properties"]["engine"]["allOf"][0])["enum"]
    assert set(engines) == {"auto", "zeroscope", "procedural"}
    one_of = next(c["anyOf"] for c in board["allOf"] if "scenes" in str(c))
    assert {"required": ["scenes"], "not": {"anyOf": [{"required": ["story"]}]}} in one_of
    assert board["properties"]["scenes"]["minItems"] == 1
    assert board["properties"]["scenes"]["maxItems"] == 10
    scene = _component(components, board["properties"]["scenes"]["items"])
    assert scene["additionalProperties"] is False
    image = [_component(components, o) for o in scene["properties"]["image"]["oneOf"]]
    assert [option["enum"] for option in image] == [[False], [None]]  # JSON carries no file
    unless_chained = next(c["anyOf"] for c in board["allOf"] if "chain" in str(c))
    assert unless_chained[1]["properties"]["scenes"]["items"]["required"] == ["prompt"]


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


def test_the_schema_renders_as_yaml_too(api):
    response = api.get("/api/schema/")
    assert response.status_code == 200
    assert b"GenerationCreateRequest" in response.content


@pytest.mark.parametrize(
    "body, field",
    [
        ({"chain": 1}, "chain"),  # a number is not a boolean
        ({"scenes": [{"prompt": "rain", "image": "photo.png"}]}, "scenes[0]"),
        ({"story": "   "}, "story"),  # given, a story is not blank
    ],
)
def test_a_storyboard_body_the_schema_refuses_the_server_refuses(api, user, body, field):
    base = {"kind": "storyboard", "engine": "procedural"}
    if "story" not in body and "scenes" not in body:
        base["scenes"] = [{"prompt": "rain on a tin roof"}]
    response = api.post("/api/v1/generations/", {**base, **body}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert not Generation.objects.filter(user=user).exists()


def test_a_persona_default_applies_to_the_kinds_that_take_it(api, user):
    """`quality` is standard/turbo for image-to-video and fast/high for text-to-video: a
    persona may preset either, and each job takes the one its kind offers."""
    response = api.post(
        "/api/v1/personas/", {"name": "Swift", "defaults": {"quality": "high"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    persona = response.json()["id"]
    assert (
        api.get(
            "/api/v1/generations/quote/", {"kind": "text_to_video", "persona": persona}
        ).status_code
        == 200
    )
    response = api.get("/api/v1/generations/quote/", {"kind": "image_to_video", "persona": persona})
    assert response.status_code == 200, response.json()
    response = api.get(
        "/api/v1/generations/quote/", {"kind": "storyboard", "persona": persona, "scene_count": 2}
    )
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "defaults, field",
    [
        ({"max_guidance_scale": False}, "max_guidance_scale"),
        ({"enhance_prompt": 1}, "enhance_prompt"),
    ],
)
def test_a_persona_default_of_the_wrong_json_type_is_refused(api, defaults, field):
    response = api.post("/api/v1/personas/", {"name": "Typed", "defaults": defaults}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["defaults"]


@pytest.mark.parametrize(
    "params",
    [{"quality": {}}, {"quality": []}, {"quality": "ultra"}, {"decode_chunk_size": 0}],
)
def test_a_storyboard_param_no_kind_takes_is_a_400(api, user, params):
    """Even where no scene is of the kind that names it (these scenes are text-to-video)."""
    body = {
        "kind": "storyboard",
        "engine": "procedural",
        "scenes": [{"prompt": "rain on a tin roof"}],
        "params": params,
    }
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code == 400, response.content
    assert next(iter(params)) in response.json()["detail"]
    assert not Generation.objects.filter(user=user).exists()
