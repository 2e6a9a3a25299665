"""The job page's "Re-run" button: a POST form with CSRF that calls the rerun service (the same
seed) and lands on the new job's page."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.billing.selectors import credits_balance
from apps.generation.models import Generation

from .conftest import create_image, create_text, finish

pytestmark = pytest.mark.django_db


def _form(html: str, pk) -> dict[str, str]:
    """The Re-run form's action and fields, as the page renders them."""
    match = re.search(
        rf'<form method="post" action="(/jobs/{pk}/rerun/)" data-rerun-form([^>]*)>(.*?)</form>',
        html,
        re.S,
    )
    assert match, "no Re-run form on the page"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', match[3]))
    return {"action": match[1], "attrs": match[2], "button": match[3], **fields}


@pytest.fixture
def browser(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_rerun_button_starts_the_same_job_and_lands_on_its_page(api, browser, user, no_enqueue):
    old = create_image(api, seed=1234)
    finish(old["id"])
    page = browser.get(f"/jobs/{old['id']}/").content.decode()
    form = _form(page, old["id"])
    assert ">Re-run</button>" in form["button"] and "hidden" not in form["attrs"]
    before = credits_balance(user=user)

    response = browser.post(
        form["action"],
        {
            "csrfmiddlewaretoken": form["csrfmiddlewaretoken"],
            "idempotency_key": form["idempotency_key"],
        },
    )

    new = Generation.objects.exclude(pk=old["id"]).get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{new.pk}/"
    assert new.seed == 1234 and new.kind == "image_to_video" and new.input_image
    assert new.params == Generation.objects.get(pk=old["id"]).params
    assert credits_balance(user=user) == before - new.cost_credits
    landed = browser.get(response["Location"]).content.decode()
    assert "Re-running with seed 1234" in landed
    # The same form sent twice (a double click) makes one job.
    again = browser.post(
        form["action"],
        {
            "csrfmiddlewaretoken": form["csrfmiddlewaretoken"],
            "idempotency_key": form["idempotency_key"],
        },
    )
    assert again["Location"] == f"/jobs/{new.pk}/" and Generation.objects.count() == 2


def test_rerun_without_the_csrf_token_is_refused(api, browser, no_enqueue):
    old = create_text(api)
    finish(old["id"])

    assert browser.post(f"/jobs/{old['id']}/rerun/").status_code == 403
    assert Generation.objects.count() == 1


def test_an_unfinished_jobs_button_is_hidden_and_a_post_makes_nothing(api, user, no_enqueue):
    old = create_text(api)
    client = Client()
    client.force_login(user)
    form = _form(client.get(f"/jobs/{old['id']}/").content.decode(), old["id"])
    assert 'data-show-when="succeeded failed canceled" hidden' in form["attrs"]

    response = client.post(f"/jobs/{old['id']}/rerun/", follow=True)

    assert response.redirect_chain[-1][0] == f"/jobs/{old['id']}/"
    assert "Could not re-run" in response.content.decode()
    assert Generation.objects.count() == 1


def test_staff_see_another_users_job_without_re_run_and_cannot_post_it(api, staff_user, no_enqueue):
    old = create_text(api)
    finish(old["id"])
    client = Client()
    client.force_login(staff_user)
    page = client.get(f"/jobs/{old['id']}/")
    assert page.status_code == 200 and "data-rerun-form" not in page.content.decode()

    assert client.post(f"/jobs/{old['id']}/rerun/").status_code == 404
    assert Generation.objects.count() == 1


def test_another_users_job_is_404(api, other_user, no_enqueue):
    old = create_text(api)
    finish(old["id"])
    client = Client()
    client.force_login(other_user)

    assert client.post(f"/jobs/{old['id']}/rerun/").status_code == 404
    assert Generation.objects.count() == 1
