"""A multipart body daphne's Twisted cannot parse reaches Django, which answers the API's JSON
error, instead of Twisted's own empty 400 (config/twisted_compat.py)."""

from __future__ import annotations

import pytest
import requests
from rest_framework.authtoken.models import Token

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("body", [b"", b"--x--\r\n", b"--x\r\nnot a part"])
def test_a_multipart_body_without_parts_gets_the_apis_json_error(user, live_web, body):
    token = Token.objects.create(user=user).key
    response = requests.post(
        f"{live_web}/api/v1/personas/",
        data=body,
        headers={
            "Authorization": f"Token {token}",
            "Content-Type": "multipart/form-data; boundary=x",
        },
        timeout=20,
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["Content-Type"].startswith("application/json"), response.headers
    assert set(response.json()) >= {"detail", "code"}


def test_a_real_multipart_upload_still_works(user, live_web):
    token = Token.objects.create(user=user).key
    response = requests.post(
        f"{live_web}/api/v1/personas/",
        files={"name": (None, "Nova"), "description": (None, "a pilot")},
        headers={"Authorization": f"Token {token}"},
        timeout=20,
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "Nova"
