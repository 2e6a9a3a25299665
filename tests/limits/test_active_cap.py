"""MAX_ACTIVE_GENERATIONS_PER_USER: a user's queued + running jobs are capped (a storyboard is
one job), a refusal is a 429 `too_many_active` that charges and writes nothing, staff set a
user's own cap in the admin, and concurrent creates cannot both take the last place."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.billing.models import LedgerEntry
from apps.generation import services as generation_services
from apps.generation.models import Generation
from apps.generation.storyboards import services as storyboards
from tests.billing.conftest import requires_postgres, set_balance
from tests.factories import UserFactory
from tests.limits.conftest import BODY, URL, Untouched, assert_error, job_cost
from tests.storyboard.conftest import storyboard_body, text_scene


@pytest.fixture
def cap(settings):
    settings.MAX_ACTIVE_GENERATIONS_PER_USER = 2
    return 2


@pytest.mark.django_db
def test_a_create_past_the_cap_is_a_429_that_charges_nothing(api, user, cap, no_enqueue):
    for _ in range(cap):
        assert api.post(URL, BODY, format="json").status_code == 201
    untouched = Untouched(user)
    body = assert_error(api.post(URL, BODY, format="json"), 429, "too_many_active")
    assert body["active"] == cap and body["limit"] == cap
    assert "nothing was charged" in body["detail"]
    untouched.check()


@pytest.mark.django_db
def test_a_finished_job_frees_its_place_and_other_users_have_their_own(
    api, user, other_user, api_for, cap, no_enqueue
):
    made = [api.post(URL, BODY, format="json").json()["id"] for _ in range(cap)]
    assert api.post(URL, BODY, format="json").status_code == 429
    assert api_for(other_user).post(URL, BODY, format="json").status_code == 201
    generation_services.generation_mark_failed(generation_id=made[0], error="test")
    assert api.post(URL, BODY, format="json").status_code == 201
    Generation.objects.filter(pk=made[1]).update(status=Generation.Status.RUNNING)
    assert api.post(URL, BODY, format="json").status_code == 429  # running counts too


@pytest.mark.django_db
def test_a_users_own_cap_set_by_staff_replaces_the_setting(api, user, cap, no_enqueue):
    user.max_active_generations = 1
    user.save(update_fields=["max_active_generations"])
    assert api.post(URL, BODY, format="json").status_code == 201
    assert assert_error(api.post(URL, BODY, format="json"), 429, "too_many_active")["limit"] == 1
    user.max_active_generations = 0  # suspended from creating
    user.save(update_fields=["max_active_generations"])
    generation_services.generation_mark_failed(
        generation_id=Generation.objects.get().pk, error="test"
    )
    assert api.post(URL, BODY, format="json").status_code == 429


@pytest.mark.django_db
def test_staff_edit_the_users_limits_in_the_admin(client, staff_user, user):
    client.force_login(staff_user)
    page = client.get(f"/admin/accounts/user/{user.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="max_active_generations"' in html and 'name="daily_spend_limit"' in html


@pytest.mark.django_db
def test_a_storyboard_is_one_job_whatever_its_scenes(api, user, cap, no_enqueue, monkeypatch):
    monkeypatch.setattr(storyboards, "storyboard_enqueue", lambda **_: None)
    board = storyboard_body([text_scene(), text_scene("a fox"), text_scene("the end")])
    assert api.post(URL, board, format="json").status_code == 201
    assert api.post(URL, BODY, format="json").status_code == 201
    untouched = Untouched(user)
    assert_error(api.post(URL, board, format="json"), 429, "too_many_active")
    untouched.check()


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creates_cannot_pass_the_cap(settings, no_enqueue):
    """12 creates at once for a cap of 3 and credits for 10: exactly 3 jobs, 3 spends."""
    settings.MAX_ACTIVE_GENERATIONS_PER_USER = 3
    user = UserFactory()
    set_balance(user, job_cost() * 10)
    token = Token.objects.create(user=user)
    requests = 12
    barrier = threading.Barrier(requests)
    statuses: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def create():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
            barrier.wait()
            response = client.post(URL, BODY, format="json")
            with lock:
                statuses.append(response.status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors, errors
    assert sorted(statuses) == [201] * 3 + [429] * 9
    assert Generation.objects.filter(user=user).count() == 3
    spends = LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.SPEND)
    assert spends.count() == 3


@pytest.mark.django_db
def test_a_storyboard_retry_is_admitted_like_a_create(api, user, settings, no_enqueue, monkeypatch):
    monkeypatch.setattr(storyboards, "storyboard_enqueue", lambda **_: None)
    settings.MAX_ACTIVE_GENERATIONS_PER_USER = 1
    board = api.post(URL, storyboard_body(), format="json").json()["id"]
    generation_services.generation_mark_failed(generation_id=board, error="test")
    job = api.post(URL, BODY, format="json").json()["id"]  # takes the only place
    untouched = Untouched(user)
    assert_error(api.post(f"{URL}{board}/retry/"), 429, "too_many_active")
    untouched.check()
    assert Generation.objects.get(pk=board).status == Generation.Status.FAILED
    generation_services.generation_mark_failed(generation_id=job, error="test")
    assert api.post(f"{URL}{board}/retry/").status_code == 200
