"""POST /api/v1/generations/{id}/rerun/ without a worker: what it copies, what it refuses, and
that a refusal leaves nothing behind (no charge, no row, no file)."""

from __future__ import annotations

import pytest

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests.billing.conftest import set_balance

from .conftest import SMALL, create_image, create_text, finish, media_files, rerun

pytestmark = pytest.mark.django_db


def test_a_rerun_copies_the_recipe_and_inputs_and_is_charged_at_its_own_price(
    api, user, no_enqueue
):
    old = create_text(api)
    finish(old["id"])
    before = credits_balance(user=user)

    response = rerun(api, old["id"])

    assert response.status_code == 201, response.content
    new = response.json()
    assert new["id"] != old["id"] and new["status"] == "queued"
    for field in ("kind", "engine", "prompt", "negative_prompt", "seed", "params"):
        assert new[field] == old[field], field
    assert new["seed"] == 41
    row = Generation.objects.get(pk=new["id"])
    assert credits_balance(user=user) == before - row.cost_credits
    assert LedgerEntry.objects.filter(kind="spend", reference=row.spend_reference).count() == 1


def test_image_to_video_reruns_on_the_stored_input_image(api, user, no_enqueue):
    old = create_image(api)
    finish(old["id"], Generation.Status.FAILED)

    response = rerun(api, old["id"])

    assert response.status_code == 201, response.content
    old_row, new_row = (Generation.objects.get(pk=g) for g in (old["id"], response.json()["id"]))
    assert new_row.input_image.name and new_row.input_image.name != old_row.input_image.name
    with old_row.input_image.open("rb") as a, new_row.input_image.open("rb") as b:
        assert a.read() == b.read()


def test_overrides_are_applied_and_params_merge_over_the_old_ones(api, no_enqueue):
    old = create_text(api)
    finish(old["id"], Generation.Status.CANCELED)

    response = rerun(
        api,
        old["id"],
        {"seed": 7, "params": {"num_frames": 12}, "prompt": "a paper crane", "engine": "auto"},
    )

    assert response.status_code == 201, response.content
    new = response.json()
    assert new["seed"] == 7 and new["params"]["seed"] == 7
    assert new["prompt"] == "a paper crane"
    assert new["params"]["num_frames"] == 12
    assert (new["params"]["width"], new["params"]["height"]) == (SMALL["width"], SMALL["height"])


def test_a_seed_given_in_params_is_used_and_the_seed_field_wins_over_it(api, no_enqueue):
    old = create_text(api)
    finish(old["id"])

    assert rerun(api, old["id"], {"params": {"seed": 5}}).json()["seed"] == 5
    assert rerun(api, old["id"], {"params": {"seed": 5}, "seed": 6}).json()["seed"] == 6


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"params": {"num_frames": 0}}, "params"),
        ({"params": {"width": 100}}, "params"),
        ({"params": {"no_such_param": 1}}, "params"),
        ({"params": {"final_prompt": "x"}}, "params"),
        ({"params": "not an object"}, "params"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"prompt": ""}, "prompt"),
        ({"engine": "svd"}, "engine"),
        ({"engine": "no-such"}, "engine"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_overrides_are_400_and_leave_nothing_behind(api, user, no_enqueue, body, field):
    old = create_text(api)
    finish(old["id"])
    balance, rows, files = credits_balance(user=user), Generation.objects.count(), media_files()
    entries = LedgerEntry.objects.count()

    response = rerun(api, old["id"], body)

    assert response.status_code == 400, response.content
    error = response.json()
    assert error["detail"] and error["code"]
    assert field in str(error), error
    assert credits_balance(user=user) == balance
    assert Generation.objects.count() == rows
    assert LedgerEntry.objects.count() == entries
    assert media_files() == files


def test_a_bad_override_of_an_image_job_stores_no_file(api, user, no_enqueue):
    old = create_image(api)
    finish(old["id"])
    rows, files = Generation.objects.count(), media_files()

    response = rerun(api, old["id"], {"params": {"motion_strength": 2}})

    assert response.status_code == 400
    assert Generation.objects.count() == rows and media_files() == files


def test_short_of_credits_is_402_and_leaves_nothing_behind(api, user, no_enqueue):
    old = create_image(api)
    finish(old["id"])
    set_balance(user, 0)
    rows, files, entries = Generation.objects.count(), media_files(), LedgerEntry.objects.count()

    response = rerun(api, old["id"])

    assert response.status_code == 402, response.content
    assert response.json()["code"] == "insufficient_credits"
    assert credits_balance(user=user) == 0
    assert Generation.objects.count() == rows and LedgerEntry.objects.count() == entries
    assert media_files() == files


def test_another_users_job_is_404(api, api_for, other_user, no_enqueue):
    old = create_text(api)
    finish(old["id"])
    balance = credits_balance(user=other_user)

    response = rerun(api_for(other_user), old["id"])

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert credits_balance(user=other_user) == balance
    assert Generation.objects.count() == 1


def test_staff_can_read_another_users_job_but_not_rerun_it(api, api_for, staff_user, no_enqueue):
    old = create_text(api)
    finish(old["id"])
    staff = api_for(staff_user)
    assert staff.get(f"/api/v1/generations/{old['id']}/").status_code == 200

    assert rerun(staff, old["id"]).status_code == 404
    assert Generation.objects.count() == 1


@pytest.mark.parametrize("status", [Generation.Status.QUEUED, Generation.Status.RUNNING])
def test_an_unfinished_job_is_409_not_finished(api, user, no_enqueue, status):
    old = create_text(api)
    finish(old["id"], status)
    balance = credits_balance(user=user)

    response = rerun(api, old["id"])

    assert response.status_code == 409
    assert response.json()["code"] == "not_finished"
    assert credits_balance(user=user) == balance and Generation.objects.count() == 1


def test_a_storyboard_is_refused_with_the_retry_code(api, user, no_enqueue):
    board = Generation.objects.create(
        user=user, kind="storyboard", engine="procedural", status="failed", params={}
    )

    response = rerun(api, board.pk)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "storyboard_use_retry" and "retry/" in body["detail"]


def test_an_image_job_whose_input_is_gone_is_409(api, user, no_enqueue):
    old = create_image(api)
    finish(old["id"])
    row = Generation.objects.get(pk=old["id"])
    row.input_image.delete(save=False)
    balance = credits_balance(user=user)

    response = rerun(api, old["id"])

    assert response.status_code == 409 and response.json()["code"] == "input_missing"
    assert credits_balance(user=user) == balance and Generation.objects.count() == 1


def test_the_same_idempotency_key_answers_the_same_job_charged_once(api, user, no_enqueue):
    old = create_text(api)
    finish(old["id"])
    before = credits_balance(user=user)

    first = rerun(api, old["id"], {"seed": 9}, key="rerun-1")
    second = rerun(api, old["id"], {"seed": 9}, key="rerun-1")
    other = rerun(api, old["id"], {"seed": 10}, key="rerun-1")

    assert first.status_code == 201 and second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Generation.objects.count() == 2
    assert credits_balance(user=user) == before - first.json()["cost_credits"]
