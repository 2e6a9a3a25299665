"""The OpenAPI schema says what a recipe holds: `generation_time` may be null (not finished), and
every key of `recipe` and of its `versions` may be absent (`{}` until the job succeeds)."""

from __future__ import annotations

import pytest

from apps.generation.serializers import GenerationOutputSerializer, RecipeSerializer


@pytest.fixture
def components(api):
    response = api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()["components"]["schemas"]


def test_the_schema_describes_generation_time_and_the_recipe(components):
    output = components["GenerationOutput"]
    assert {"generation_time", "recipe"} <= set(output["required"])
    assert output["properties"]["generation_time"]["nullable"] is True
    assert output["properties"]["recipe"] == {
        "allOf": [{"$ref": "#/components/schemas/Recipe"}],
        "readOnly": True,
    }
    recipe = components["Recipe"]
    assert set(recipe["properties"]) == {
        "engine",
        "model",
        "model_revision",
        "model_revision_source",
        "device",
        "versions",
    }
    assert not recipe.get("required")
    assert recipe["properties"]["model_revision"]["nullable"] is True
    versions = components["RecipeVersions"]
    assert set(versions["properties"]) == {"platform", "torch", "diffusers", "ffmpeg"}
    assert set(versions["required"]) == set(versions["properties"])  # recorded together
    scene = components["StoryboardSceneOutput"]
    assert {"generation_time", "recipe"} <= set(scene["properties"])


def test_an_empty_recipe_is_an_empty_object_not_nulls():
    assert RecipeSerializer({}).data == {}
    assert RecipeSerializer({"model": "m", "versions": {"torch": None}}).data == {
        "model": "m",
        "versions": {"torch": None},
    }
    assert "recipe" in GenerationOutputSerializer.Meta.fields
