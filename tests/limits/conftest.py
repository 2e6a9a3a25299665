"""Fixtures for the abuse-limit tests: a create body, a stopped clock for the throttles, the
state every refusal must leave untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation import services as generation_services
from apps.generation.models import Generation

BODY = {
    "kind": "text_to_video",
    "engine": "procedural",
    "prompt": "a lantern over a harbour",
    "params": {"num_frames": 8, "width": 128, "height": 72},
}
URL = "/api/v1/generations/"


@pytest.fixture
def no_enqueue(monkeypatch):
    """Jobs are created and committed but never sent to Celery; their ids are recorded."""
    sent = []
    monkeypatch.setattr(
        generation_services, "generation_enqueue", lambda *, generation: sent.append(generation.pk)
    )
    return sent


def job_cost() -> int:
    _, cost = generation_services.generation_quote(
        kind=BODY["kind"], engine=BODY["engine"], params=dict(BODY["params"])
    )
    return cost


def stored_files() -> set[Path]:
    root = Path(settings.MEDIA_ROOT)
    return {p for p in root.rglob("*") if p.is_file()} if root.exists() else set()


class Untouched:
    """What a refused request must not change: the user's balance, ledger, jobs and files."""

    def __init__(self, user):
        self.user = user
        self.balance = credits_balance(user=user)
        self.entries = LedgerEntry.objects.filter(account__user=user).count()
        self.jobs = Generation.objects.filter(user=user).count()
        self.files = stored_files()

    def check(self) -> None:
        assert credits_balance(user=self.user) == self.balance
        assert LedgerEntry.objects.filter(account__user=self.user).count() == self.entries
        assert Generation.objects.filter(user=self.user).count() == self.jobs
        assert stored_files() == self.files


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code and body["detail"]
    return body
