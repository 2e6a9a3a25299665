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


# --- pinning the checked address (no DNS rebinding between the check and the call) ------------


def test_a_checked_url_is_pinned_to_its_public_address():
    from apps.core.urls_safety import url_pin_public

    pinned = url_pin_public("https://93.184.216.34:8443/hook?x=1")
    assert pinned.url == "https://93.184.216.34:8443/hook?x=1"
    assert (pinned.host, pinned.sni_hostname) == ("93.184.216.34:8443", "93.184.216.34")
    six = url_pin_public("https://[2606:4700:4700::1111]/hook")
    assert six.url == "https://[2606:4700:4700::1111]/hook"
    for unsafe in ("https://127.0.0.1/hook", "http://93.184.216.34/hook", "ftp://93.184.216.34/"):
        with pytest.raises(UnsafeURL):
            url_pin_public(unsafe)


def test_a_pinned_delivery_connects_to_the_pinned_address_and_never_resolves_the_name(receiver):
    from apps.core.urls_safety import PinnedTarget
    from apps.webhooks.services import _post

    port = receiver.url().split(":")[2].split("/")[0]
    pinned = PinnedTarget(
        url=f"http://127.0.0.1:{port}/pinned",
        host=f"hooks.example.invalid:{port}",
        sni_hostname="hooks.example.invalid",
    )
    response = _post(
        f"http://hooks.example.invalid:{port}/pinned",  # resolves nowhere: only the pin works
        payload="{}",
        headers={"webhook-id": "msg_pin"},
        pinned=pinned,
    )
    assert response.status_code == 200
    (request,) = receiver.wait_for("/pinned", count=1)
    assert request.headers["Host"] == f"hooks.example.invalid:{port}"
