"""What one REST create costs the database: a pinned number of queries, so a change that adds
round trips to the create path (a second read of the account, a lock taken twice, the row read
again for its live event, the queue position computed twice) fails here, not in a benchmark.

The count covers the whole request: the token lookup, the cap on active jobs (the account lock
and the count), the charge (one savepoint, the ledger entry, the balance), the job's row, the
commit, and the live event's queue position and ETA, which the response reuses. Two cases: no
timings measured yet (the ETA is unknown, the position is a count) and timings measured (the
ETA's schedule reads the jobs ahead, which give the position too, and the running ones).
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation import eta
from apps.generation.models import Generation

URL = "/api/v1/generations/"
BODY = {
    "kind": "text_to_video",
    "engine": "procedural",
    "prompt": "a lantern over a harbour",
    "params": {"num_frames": 8, "width": 128, "height": 72},
}
# token, BEGIN, account FOR UPDATE, active count, SAVEPOINT, ledger INSERT, balance UPDATE,
# RELEASE, job INSERT, COMMIT, then the queue position (no timings yet)
CREATE_QUERIES = 11
# ... then, with timings measured, the jobs ahead and the running jobs instead of the count
CREATE_QUERIES_WITH_ETA = 12


@pytest.mark.django_db(transaction=True)
def test_a_create_costs_a_fixed_number_of_queries(api, user, clean_eta):
    assert api.post(URL, BODY, format="json").status_code == 201  # (warm: the first one)
    balance = credits_balance(user=user)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, BODY, format="json")
    assert response.status_code == 201, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == CREATE_QUERIES, "\n".join(sql)
    # What those queries did is all there: the charge, once, and the job.
    body = response.json()
    job = Generation.objects.get(pk=body["id"])
    spend = LedgerEntry.objects.get(kind=LedgerEntry.Kind.SPEND, reference=job.spend_reference)
    assert (
        spend.amount == -job.cost_credits and credits_balance(user=user) == balance + spend.amount
    )
    assert body["queue_position"] == 2 and job.status == Generation.Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_with_measured_timings_the_position_comes_from_the_etas_read(api, user, clean_eta):
    first = api.post(URL, BODY, format="json").json()
    shape = eta.job_shape(Generation.objects.get(pk=first["id"]))
    eta.sample_record(shape=shape, pre=0.5, step=0.25, post=0.5)
    with CaptureQueriesContext(connection) as queries:
        response = api.post(URL, BODY, format="json")
    sql = [q["sql"] for q in queries.captured_queries]
    assert len(sql) == CREATE_QUERIES_WITH_ETA, "\n".join(sql)
    assert not [q for q in sql if "COUNT(*)" in q and "created_at" in q]  # no position count
    body = response.json()
    # One slot (no fleet registered): the first job's 3 s, then this one's: 0.5 + 8 × 0.25 + 0.5.
    assert (body["queue_position"], body["eta_seconds"]) == (2, 6.0)


@pytest.mark.django_db(transaction=True)
def test_the_response_reports_the_live_events_position_without_computing_it_again(
    api, user, clean_eta
):
    first = api.post(URL, BODY, format="json").json()
    with CaptureQueriesContext(connection) as queries:
        second = api.post(URL, BODY, format="json").json()
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"]]
    # One for the cap on active jobs, one for the queue position: not a second position.
    assert len(counts) == 2, "\n".join(counts)
    assert (first["queue_position"], second["queue_position"]) == (1, 2)
