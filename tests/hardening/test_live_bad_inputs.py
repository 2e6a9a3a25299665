"""The issue's cases against the real daphne process (HTTP parsing, ASGI body handling and all):
each a 4xx with the API's error body under /api/, the friendly page on the web pages, and
nothing written."""

from __future__ import annotations

import json

import pytest
import requests
from rest_framework.authtoken.models import Token

from apps.billing.models import LedgerEntry
from apps.generation.models import Generation
from apps.personas.models import Persona

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEEP = "[" * 1500 + "]" * 1500


def post(base: str, path: str, token: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Token {token}", **kwargs.pop("headers", {})}
    return requests.post(f"{base}{path}", headers=headers, timeout=60, **kwargs)


def assert_api_error(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["code"] == code and isinstance(body["detail"], str) and body["detail"]


def test_the_issues_bad_inputs_through_daphne(user, live_web):
    token = Token.objects.create(user=user).key
    ledger = LedgerEntry.objects.count()
    json_headers = {"Content-Type": "application/json"}

    deep = '{"kind": "text_to_video", "prompt": "x", "params": ' + DEEP + "}"
    for path in ("/api/v1/generations/", "/api/v1/personas/"):
        response = post(live_web, path, token, data=deep, headers=json_headers)
        assert_api_error(response, 400, "invalid_json")

    quote = requests.get(
        f"{live_web}/api/v1/generations/quote/",
        params={"kind": "storyboard", "scenes": DEEP},
        headers={"Authorization": f"Token {token}"},
        timeout=60,
    )
    assert_api_error(quote, 400, "invalid")

    fields = [(f"field{i}", (None, "x")) for i in range(2000)]
    response = post(live_web, "/api/v1/generations/", token, files=fields)
    assert_api_error(response, 400, "too_many_fields")

    huge = json.dumps({"kind": "text_to_video", "prompt": "x" * (35 * 1024 * 1024)})
    response = post(live_web, "/api/v1/generations/", token, data=huge, headers=json_headers)
    assert_api_error(response, 413, "request_too_large")

    # A web page: the friendly HTML page, same statuses.
    browser = requests.Session()
    browser.get(f"{live_web}/accounts/login/", timeout=20)  # the CSRF cookie
    page = browser.post(
        f"{live_web}/create/",
        files=fields,
        headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": f"{live_web}/create/"},
        timeout=60,
    )
    assert page.status_code == 400
    assert page.headers["Content-Type"].startswith("text/html")
    assert "could not be read" in page.text

    assert Generation.objects.count() == 0
    assert Persona.objects.count() == 0
    assert LedgerEntry.objects.count() == ledger
