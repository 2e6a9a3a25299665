"""`Idempotency-Key` on generation create: same key + body → same Generation, charged once."""

import pytest

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests.billing.conftest import set_balance

pytestmark = pytest.mark.django_db

URL = "/api/v1/generations/"
BODY = {"kind": "text_to_video", "prompt": "a lighthouse in a storm", "params": {"num_frames": 8}}


def post(api, body, key):
    return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_same_key_and_body_returns_the_same_generation_charged_once(api, user, no_enqueue):
    before = credits_balance(user=user)
    first = post(api, BODY, "key-1")
    second = post(api, BODY, "key-1")

    assert first.status_code == 201
    assert second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert Generation.objects.count() == 1
    generation = Generation.objects.get()
    assert LedgerEntry.objects.filter(kind="spend").count() == 1
    assert credits_balance(user=user) == before - generation.cost_credits


def test_same_key_with_a_different_body_is_409_and_charges_nothing(api, user, no_enqueue):
    assert post(api, BODY, "key-2").status_code == 201
    balance = credits_balance(user=user)

    response = post(api, {**BODY, "prompt": "a different prompt"}, "key-2")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Generation.objects.count() == 1
    assert credits_balance(user=user) == balance


def test_keys_are_per_user(api, api_for, user, other_user, no_enqueue):
    mine = post(api, BODY, "shared-key")
    theirs = post(api_for(other_user), BODY, "shared-key")
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert Generation.objects.count() == 2


def test_different_keys_create_different_generations(api, no_enqueue):
    assert post(api, BODY, "a").json()["id"] != post(api, BODY, "b").json()["id"]
    assert LedgerEntry.objects.filter(kind="spend").count() == 2


def test_a_replay_after_402_can_succeed_once_credits_arrive(api, user, no_enqueue):
    set_balance(user, 0)
    assert post(api, BODY, "retry-key").status_code == 402
    assert not Generation.objects.exists()
    set_balance(user, 10)
    assert post(api, BODY, "retry-key").status_code == 201
    assert post(api, BODY, "retry-key").status_code == 200
    assert LedgerEntry.objects.filter(kind="spend").count() == 1
