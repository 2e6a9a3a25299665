"""The create body's `webhook` and `webhook_events_filter`, and the SSRF rules at create."""

from __future__ import annotations

import pytest
from django.test import override_settings

from apps.core.urls_safety import UnsafeURL, address_is_public, url_check_public
from apps.generation.models import Generation

pytestmark = pytest.mark.django_db

BODY = {
    "kind": "text_to_video",
    "prompt": "neon rain over a quiet harbour",
    "params": {"num_frames": 8, "width": 128, "height": 96},
}


def create(api, **extra):
    return api.post("/api/v1/generations/", {**BODY, **extra}, format="json")


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://127.1.2.3:8443/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fd00:ec2::254]/hook",
        "https://0.0.0.0/hook",
        "https://localhost/hook",
        "http://example.com/hook",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "https://user:pw@example.com/hook",
        "not a url",
    ],
)
@override_settings(WEBHOOK_ALLOW_PRIVATE=False)
def test_create_refuses_unsafe_webhook_urls(api, url):
    response = create(api, webhook=url)
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "unsafe_url"
    assert body["detail"].startswith("webhook: ")
    assert body["webhook"]
    assert not Generation.objects.exists()


def test_private_addresses_are_allowed_when_the_setting_says_so(api):
    # (test settings: WEBHOOK_ALLOW_PRIVATE=true)
    response = create(api, webhook="http://127.0.0.1:9/hook")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["webhook"] == "http://127.0.0.1:9/hook"
    assert body["webhook_events_filter"] == ["completed"]  # the default
    generation = Generation.objects.get()
    assert generation.webhook_events_filter == ["completed"]


def test_events_filter_is_kept_in_order_once_each(api):
    response = create(
        api,
        webhook="http://127.0.0.1:9/hook",
        webhook_events_filter=["completed", "start", "progress", "start"],
    )
    assert response.status_code == 201, response.json()
    assert response.json()["webhook_events_filter"] == ["start", "progress", "completed"]


def test_unknown_events_are_a_400(api):
    response = create(
        api, webhook="http://127.0.0.1:9/hook", webhook_events_filter=["start", "output"]
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "webhook_events_filter" in body and "output" in body["detail"]


def test_a_filter_without_a_webhook_is_a_400(api):
    response = create(api, webhook_events_filter=["start"])
    assert response.status_code == 400
    assert "webhook_events_filter" in response.json()


def test_multipart_create_takes_the_filter_as_repeated_fields(api):
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "text_to_video",
            "prompt": "a fox at dawn",
            "params": '{"num_frames": 8, "width": 128, "height": 96}',
            "webhook": "http://127.0.0.1:9/hook",
            "webhook_events_filter": ["start", "completed"],
        },
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["webhook_events_filter"] == ["start", "completed"]


def test_without_a_webhook_the_generation_shows_none(api):
    response = create(api)
    assert response.status_code == 201
    assert (response.json()["webhook"], response.json()["webhook_events_filter"]) == ("", [])


def test_a_storyboard_takes_a_webhook(api):
    response = api.post(
        "/api/v1/generations/",
        {
            "kind": "storyboard",
            "engine": "procedural",
            "quality": "draft",
            "scenes": [{"prompt": "a", "duration": 1}],
            "webhook": "http://127.0.0.1:9/hook",
            "webhook_events_filter": ["start", "completed"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    generation = Generation.objects.get()
    assert (generation.webhook, generation.webhook_events_filter) == (
        "http://127.0.0.1:9/hook",
        ["start", "completed"],
    )


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("169.254.1.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("::", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:8.8.8.8", True),
    ],
)
def test_address_rules(address, public):
    assert address_is_public(address) is public


def test_a_name_is_judged_by_every_address_it_resolves_to():
    with pytest.raises(UnsafeURL, match="resolves to"):
        url_check_public("https://localhost:8443/x", allow_private=False)
    assert url_check_public("http://localhost/x", allow_private=True) == "http://localhost/x"
