"""`GET /api/v1/credits/ledger/`: the user's own entries, newest first."""

import pytest

from apps.billing.services import credits_adjust, credits_refund_spend, credits_spend

pytestmark = pytest.mark.django_db

FIELDS = {"amount", "kind", "balance_after", "reference", "created_at"}


def test_ledger_lists_own_entries_newest_first(api, user, other_user, settings):
    free = settings.FREE_CREDITS
    credits_spend(user=user, amount=5, reference="generation:a")
    credits_refund_spend(spend_reference="generation:a", note="failed")
    credits_spend(user=other_user, amount=3, reference="generation:theirs")
    credits_adjust(user=user, amount=7, note="gift", created_by=None, reference="admin:1")

    response = api.get("/api/v1/credits/ledger/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(e["kind"], e["amount"]) for e in results] == [
        ("adjustment", 7),
        ("refund", 5),
        ("spend", -5),
        ("grant", free),
    ]
    assert all(set(entry) >= FIELDS for entry in results)
    assert [e["balance_after"] for e in results] == [free + 7, free, free - 5, free]
    assert "generation:theirs" not in {e["reference"] for e in results}
    assert results[-1]["reference"] == f"signup:{user.pk}"
    assert response.json()["count"] == 4


def test_ledger_needs_authentication(client):
    assert client.get("/api/v1/credits/ledger/").status_code == 401
