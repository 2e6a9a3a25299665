"""The one JSON reader behind every body, form field, query field and websocket message."""

import json

import pytest

from apps.core.parsers import JSONRefused, json_loads


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_nesting_up_to_the_limit_is_read_and_one_more_is_refused(settings):
    assert settings.JSON_MAX_DEPTH == 32
    assert json_loads(nested(32)) is not None
    with pytest.raises(JSONRefused, match="more than 32 levels"):
        json_loads(nested(33))
    with pytest.raises(JSONRefused, match="more than 32 levels"):
        json_loads('[{"a": ' * 17 + "1" + "}]" * 17)  # 34 levels of objects in lists


def test_the_limit_is_a_setting(settings):
    settings.JSON_MAX_DEPTH = 3
    assert json_loads('{"a": {"b": [1]}}') == {"a": {"b": [1]}}
    with pytest.raises(JSONRefused):
        json_loads('{"a": {"b": [[1]]}}')


def test_nesting_that_would_exhaust_pythons_recursion_is_refused_not_raised():
    with pytest.raises(JSONRefused):
        json_loads(nested(100_000))


@pytest.mark.parametrize(
    "text",
    ["NaN", "[Infinity]", '{"x": -Infinity}', "1e309", "[-1e400]", "9" * 5000],
    ids=["nan", "infinity", "minus-infinity", "1e309", "minus-1e400", "5000-digits"],
)
def test_numbers_that_are_not_finite_json_numbers_are_refused(text):
    with pytest.raises(ValueError):
        json_loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '"a\\u0000b"',
        '{"k\\u0000": 1}',
        '["\\ud800"]',
        '{"deep": [[{"x": "\\udfff"}]]}',
        b'"\xed\xa0\x80"',  # a surrogate encoded in the bytes (json reads them surrogatepass)
    ],
    ids=["nul-value", "nul-key", "lone-high", "lone-low-nested", "encoded-surrogate"],
)
def test_nul_and_lone_surrogates_are_refused_wherever_they_are(text):
    with pytest.raises(JSONRefused, match="NUL character or a lone surrogate"):
        json_loads(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\ud83d\\ude00"', "\U0001f600"),  # a surrogate pair is one character
        ('"a\\\\u0000b"', "a\\u0000b"),  # an escaped backslash, then the letters u0000
        (
            json.dumps({"prompt": "émoji 😀 and \u202e text"}),
            {"prompt": "émoji 😀 and \u202e text"},
        ),
        ("1e308", 1e308),
        (str(10**4000), 10**4000),
    ],
    ids=["surrogate-pair", "escaped-backslash", "unicode", "largest-float", "4001-digits"],
)
def test_ordinary_json_reads_as_json_loads_reads_it(text, value):
    assert json_loads(text) == value


@pytest.mark.django_db
def test_a_multipart_body_without_a_readable_part_is_refused_not_read_as_empty(api, user):
    """A part without Content-Disposition is skipped by Django: a body of only such parts
    must not pass as an empty PATCH (a 200 that changed nothing) or an empty create."""
    from apps.personas.models import Persona

    persona = Persona.objects.create(user=user, name="Kept", description="as it was")
    boundary = "fuzzboundary"
    headerless = f'--{boundary}\r\n\r\n{{"name": "Changed"}}\r\n--{boundary}--\r\n'
    for method, url in (
        ("patch", f"/api/v1/personas/{persona.pk}/"),
        ("post", "/api/v1/generations/"),
    ):
        response = getattr(api, method)(
            url, headerless, content_type=f"multipart/form-data; boundary={boundary}"
        )
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "invalid_multipart"
    persona.refresh_from_db()
    assert persona.name == "Kept"
    # An empty form (only the closing delimiter) is still an empty form, not an error.
    empty = api.patch(
        f"/api/v1/personas/{persona.pk}/",
        f"--{boundary}--\r\n",
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert empty.status_code == 200, empty.content
