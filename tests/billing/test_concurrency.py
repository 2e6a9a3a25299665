"""40 generation creates at once, from threads on separate database connections (PostgreSQL).

Nothing in the charge path is patched: each request goes through the REST API, the pricing
function and `credits_spend` under the account row lock. Only the Celery enqueue is replaced by
a recorder, so no job leaves the process.
"""

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_account
from apps.generation import services as generation_services
from apps.generation.models import Generation
from tests.billing.conftest import requires_postgres, set_balance
from tests.factories import UserFactory

REQUESTS = 40
COVERED = 15
BODY = {"kind": "text_to_video", "prompt": "a neon city at night", "params": {"num_frames": 8}}


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_40_concurrent_creates_charge_exactly_what_the_balance_covers(monkeypatch):
    enqueued: list = []
    lock = threading.Lock()

    def record_enqueue(*, generation):
        with lock:
            enqueued.append(generation.pk)

    monkeypatch.setattr(generation_services, "generation_enqueue", record_enqueue)
    user = UserFactory()
    _, cost = generation_services.generation_quote(
        kind=BODY["kind"], engine="auto", params=dict(BODY["params"])
    )
    set_balance(user, cost * COVERED)
    token = Token.objects.create(user=user)
    barrier = threading.Barrier(REQUESTS)
    responses: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def create():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            barrier.wait()
            response = client.post("/api/v1/generations/", BODY, format="json")
            with lock:
                responses.append((response.status_code, response.json()))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    created = [body for status, body in responses if status == 201]
    refused = [body for status, body in responses if status == 402]
    assert len(created) == COVERED
    assert len(refused) == REQUESTS - COVERED
    assert len(responses) == REQUESTS
    for body in refused:
        assert body["code"] == "insufficient_credits"
        assert body["required"] == cost
        assert body["balance"] < cost
        assert body["detail"]

    account = credits_account(user=user)
    entries = LedgerEntry.objects.filter(account__user=user)
    assert account.balance == sum(entries.values_list("amount", flat=True)) == 0
    assert account.debt == 0
    assert entries.filter(kind="spend").count() == COVERED
    assert Generation.objects.filter(user=user).count() == COVERED
    assert sorted(map(str, enqueued)) == sorted(body["id"] for body in created)
    print(
        f"\n{REQUESTS} concurrent creates, balance covered {COVERED}: "
        f"{len(created)} succeeded, {len(refused)} got 402"
    )
