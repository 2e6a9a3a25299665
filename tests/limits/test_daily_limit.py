"""The daily spend limit: credits per UTC day, net of refunds, read from the ledger; a spend past
it is a 402 `daily_limit` with Retry-After (the seconds to 00:00 UTC) that charges nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_spent_since
from apps.generation import services as generation_services
from tests.billing.conftest import set_balance
from tests.limits.conftest import BODY, URL, Untouched, assert_error, job_cost

pytestmark = pytest.mark.django_db


@pytest.fixture
def cost() -> int:
    return job_cost()


def test_a_spend_past_the_daily_limit_is_a_402_with_retry_after(
    api, user, settings, cost, no_enqueue
):
    settings.DAILY_SPEND_LIMIT = cost * 2
    set_balance(user, cost * 10)
    for _ in range(2):
        assert api.post(URL, BODY, format="json").status_code == 201
    untouched = Untouched(user)
    response = api.post(URL, BODY, format="json")
    body = assert_error(response, 402, "daily_limit")
    assert (body["limit"], body["spent"], body["required"]) == (cost * 2, cost * 2, cost)
    untouched.check()
    # Retry-After: whole seconds to the next 00:00 UTC (a few seconds' slack for the request).
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 86400
    off_midnight = (datetime.now(UTC).timestamp() + retry_after) % 86400
    assert min(off_midnight, 86400 - off_midnight) <= 5


def test_refunds_give_their_credits_back_to_the_day(api, user, settings, cost, no_enqueue):
    settings.DAILY_SPEND_LIMIT = cost
    set_balance(user, cost * 10)
    first = api.post(URL, BODY, format="json").json()["id"]
    assert api.post(URL, BODY, format="json").status_code == 402
    generation_services.generation_mark_failed(generation_id=first, error="test")
    assert api.post(URL, BODY, format="json").status_code == 201


def test_spends_before_midnight_utc_do_not_count(api, user, settings, cost, no_enqueue):
    settings.DAILY_SPEND_LIMIT = cost
    set_balance(user, cost * 10)
    assert api.post(URL, BODY, format="json").status_code == 201
    midnight = timezone.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    LedgerEntry.objects.filter(account__user=user, kind="spend").update(
        created_at=midnight - timedelta(seconds=1)
    )
    assert credits_spent_since(user=user, since=midnight) == 0
    assert api.post(URL, BODY, format="json").status_code == 201


def test_a_users_own_limit_replaces_the_setting(
    api, user, other_user, api_for, settings, cost, no_enqueue
):
    settings.DAILY_SPEND_LIMIT = None  # the default: no limit
    set_balance(user, cost * 10)
    user.daily_spend_limit = cost
    user.save(update_fields=["daily_spend_limit"])
    assert api.post(URL, BODY, format="json").status_code == 201
    assert_error(api.post(URL, BODY, format="json"), 402, "daily_limit")
    set_balance(other_user, cost * 10)
    others = api_for(other_user)
    assert [others.post(URL, BODY, format="json").status_code for _ in range(3)] == [201] * 3


def test_the_limit_is_checked_before_the_balance(api, user, settings, cost, no_enqueue):
    """Buying credits would not help: the answer says so (daily_limit, not insufficient)."""
    settings.DAILY_SPEND_LIMIT = cost
    set_balance(user, cost)
    assert api.post(URL, BODY, format="json").status_code == 201
    assert_error(api.post(URL, BODY, format="json"), 402, "daily_limit")
