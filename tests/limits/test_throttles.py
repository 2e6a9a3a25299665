"""The API throttles: create (POST only), quote, the token endpoint and persona drafts answer a
429 `throttled` with Retry-After past their rate, count in Redis under this run's prefix, hold
across two real web processes, and let requests through while Redis is unreachable."""

from __future__ import annotations

import types

import pytest
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token

from apps.core import throttling
from apps.core.redis import install_key_prefix, redis_client
from tests import processes
from tests.factories import UserFactory
from tests.limits.conftest import BODY, URL, Untouched, assert_error

QUOTE = "/api/v1/generations/quote/"
QUOTE_QUERY = {"kind": "text_to_video", "engine": "procedural", "num_frames": 8}
T0 = 1_800_000_000.0  # a minute's start (divisible by 60)


@pytest.fixture
def clock(monkeypatch):
    """The throttles' clock, stopped at T0; move it with `clock.now = ...`."""
    fake = types.SimpleNamespace(now=T0 + 20.0)
    monkeypatch.setattr(
        throttling,
        "time",
        types.SimpleNamespace(time=lambda: fake.now, monotonic=lambda: fake.now),
    )
    return fake


@pytest.mark.django_db
def test_creates_past_the_rate_are_a_429_with_retry_after_and_charge_nothing(
    api, user, settings, clock, no_enqueue
):
    settings.THROTTLE_RATE_CREATE = "2/min"
    assert [api.post(URL, BODY, format="json").status_code for _ in range(2)] == [201, 201]
    untouched = Untouched(user)
    refused = api.post(URL, BODY, format="json")
    assert_error(refused, 429, "throttled")
    assert refused["Retry-After"] == "40"  # the minute began 20 s ago
    untouched.check()
    assert api.get(URL).status_code == 200  # listing is not creating
    clock.now = T0 + 60.0  # the next minute
    assert api.post(URL, BODY, format="json").status_code == 201


@pytest.mark.django_db
def test_each_user_has_their_own_count(api, other_user, api_for, settings, clock, no_enqueue):
    settings.THROTTLE_RATE_CREATE = "1/min"
    assert api.post(URL, BODY, format="json").status_code == 201
    assert api.post(URL, BODY, format="json").status_code == 429
    assert api_for(other_user).post(URL, BODY, format="json").status_code == 201


@pytest.mark.django_db
def test_quotes_are_throttled(api, settings, clock):
    settings.THROTTLE_RATE_QUOTE = "3/min"
    assert [api.get(QUOTE, QUOTE_QUERY).status_code for _ in range(3)] == [200] * 3
    assert_error(api.get(QUOTE, QUOTE_QUERY), 429, "throttled")


@pytest.mark.django_db
def test_token_requests_are_throttled_per_client_address(client, user, settings, clock):
    settings.THROTTLE_RATE_AUTH = "2/min"
    wrong = {"username": user.username, "password": "nope"}
    for _ in range(2):
        response = client.post("/api/v1/auth/token/", wrong, content_type="application/json")
        assert response.status_code == 400
    right = {"username": user.username, "password": "pass-word-123"}
    refused = client.post("/api/v1/auth/token/", right, content_type="application/json")
    assert_error(refused, 429, "throttled")
    assert refused["Retry-After"] == "40"
    forged = client.post(
        "/api/v1/auth/token/",
        right,
        content_type="application/json",
        HTTP_X_FORWARDED_FOR="203.0.113.7",  # sent by the client itself: not believed
    )
    assert forged.status_code == 429
    elsewhere = client.post(
        "/api/v1/auth/token/", right, content_type="application/json", REMOTE_ADDR="10.0.0.9"
    )
    assert elsewhere.status_code == 200


@pytest.mark.django_db
def test_counts_live_in_redis_under_this_runs_prefix(api, user, settings, clock, no_enqueue):
    settings.THROTTLE_RATE_CREATE = "5/min"
    api.post(URL, BODY, format="json")
    api.post(URL, BODY, format="json")
    prefix = install_key_prefix("throttle")
    assert prefix.startswith(settings.CHANNEL_LAYER_PREFIX.rstrip(":"))
    assert settings.TEST_RUN_ID in prefix  # another run (or checkout) never shares them
    key = f"{prefix}create:user:{user.pk}:60:{int(T0 // 60)}"
    assert int(redis_client().get(key)) == 2
    assert 0 < redis_client().ttl(key) <= 61
    assert throttling.throttle_reset() == 1
    assert redis_client().get(key) is None


@pytest.mark.django_db
def test_requests_go_through_while_redis_is_unreachable(
    api, settings, clock, no_enqueue, caplog, monkeypatch
):
    monkeypatch.setattr(throttling, "_last_warning", 0.0)
    settings.THROTTLE_RATE_CREATE = "1/min"
    settings.CACHES = {
        **settings.CACHES,
        "throttle": {**settings.CACHES["throttle"], "LOCATION": "redis://127.0.0.1:1/0"},
    }
    assert [api.post(URL, BODY, format="json").status_code for _ in range(2)] == [201, 201]
    assert "Throttles off while Redis is unreachable" in caplog.text


def test_an_empty_rate_turns_a_throttle_off(rf, settings):
    settings.THROTTLE_RATE_QUOTE = ""
    assert throttling.QuoteThrottle().allow_request(rf.get(QUOTE), None)


@pytest.mark.django_db(transaction=True)
def test_the_limit_is_shared_by_two_web_processes():
    """3 quotes a day between two daphne processes: the fourth is refused, by either."""
    user = UserFactory()
    token = Token.objects.create(user=user)
    headers = {"Authorization": f"Token {token.key}"}
    with (
        processes.web_server(THROTTLE_RATE_QUOTE="3/day") as first,
        processes.web_server(THROTTLE_RATE_QUOTE="3/day") as second,
    ):

        def quote(base):
            return requests.get(f"{base}{QUOTE}", params=QUOTE_QUERY, headers=headers, timeout=30)

        assert [quote(b).status_code for b in (first, second, first)] == [200, 200, 200]
        refused = quote(second)
        assert refused.status_code == 429 and refused.json()["code"] == "throttled"
        assert int(refused.headers["Retry-After"]) > 0
        assert quote(first).status_code == 429
    assert settings.THROTTLE_RATE_QUOTE != "3/day"  # this process's rate was never changed


@pytest.mark.django_db
def test_the_create_page_counts_in_the_apis_create_throttle(
    api, client, user, settings, clock, no_enqueue
):
    """The web form and the API share one count per user: neither gets past the limit through
    the other, and the page says why, with Retry-After, and charges nothing."""
    from apps.generation.models import Generation

    settings.THROTTLE_RATE_CREATE = "2/min"
    client.force_login(user)
    form = {"kind": "text_to_video", "prompt": "a lighthouse", "num_frames": "8"}
    assert api.post(URL, BODY, format="json").status_code == 201
    page = client.post("/create/", {**form, "idempotency_key": "form-1"})
    assert page.status_code == 302
    untouched = Untouched(user)
    refused = client.post("/create/", {**form, "idempotency_key": "form-2"})
    assert refused.status_code == 429
    assert refused["Retry-After"] == "40"
    assert "faster than this site allows (2/min)" in refused.content.decode()
    storyboard = client.post("/create/", {"kind": "storyboard", "idempotency_key": "form-3"})
    assert storyboard.status_code == 429
    assert "Try again in 40 s" in storyboard.content.decode()
    untouched.check()
    assert_error(api.post(URL, BODY, format="json"), 429, "throttled")
    assert Generation.objects.filter(user=user).count() == 2
