"""Every list the platform serves costs the same queries for 3 rows as for 9: no N+1.

Each list is read twice with CaptureQueriesContext: with a few rows, then with three times as
many. Pages are at least 9 rows long (REST: 20; Jobs: 12; galleries: 12+), so all rows show.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.billing.services import credits_adjust
from apps.generation import services as generation_services
from apps.personas.services import persona_create
from tests.content.conftest import Status, Visibility, make_item

pytestmark = pytest.mark.django_db


def queued(user):
    return generation_services.generation_create(
        user=user,
        kind="text_to_video",
        engine="procedural",
        prompt="a paper boat",
        params={"num_frames": 8, "width": 128, "height": 72},
    ).generation


def public(user):
    return make_item(user, visibility=Visibility.PUBLIC, status=Status.APPROVED)


def persona(user):
    return persona_create(user=user, name=f"Captain {uuid.uuid4().hex[:8]}", style="ink wash")


def adjust(user):
    credits_adjust(
        user=user, amount=1, note="audit", created_by=None, reference=f"audit:{uuid.uuid4()}"
    )


LISTS = {
    # url: how to add one row to it
    "/api/v1/generations/": queued,
    "/api/v1/content/": public,
    "/api/v1/content/mine/": public,
    "/api/v1/personas/": persona,
    "/jobs/": queued,
    "/gallery/": public,
    "/explore/": public,
    "/personas/": persona,
    "/api/v1/credits/ledger/": lambda user: adjust(user),
    "/credits/": lambda user: adjust(user),
}


@pytest.mark.parametrize("url", list(LISTS))
def test_a_list_costs_the_same_queries_for_more_rows(url, user):
    make = LISTS[url]
    client = Client()
    client.force_login(user)

    def read() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return len(queries)

    for _ in range(3):
        make(user)
    read()  # warm: per-process caches (content types, sessions) are not what is measured
    few = read()
    for _ in range(6):
        make(user)
    many = read()
    assert many == few, f"{url}: {few} queries for 3 rows, {many} for 9"
