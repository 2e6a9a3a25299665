"""Staff in the admin: grant credits, read a user's ledger, refund a generation, edit packs."""

import re

import pytest

from apps.billing.models import CreditAccount, CreditPack, LedgerEntry
from apps.billing.selectors import credits_account, credits_balance
from apps.generation import services as generation_services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def grant_url(user) -> str:
    return f"/admin/billing/creditaccount/{CreditAccount.objects.get(user=user).pk}/grant/"


def ledger_url(user) -> str:
    return f"/admin/billing/creditaccount/{CreditAccount.objects.get(user=user).pk}/ledger/"


def form_token(html: str) -> str:
    return re.search(r'name="token" value="([0-9a-f-]{36})"', html).group(1)


def test_staff_grant_credits_as_an_adjustment_with_note_and_author(staff_client, staff_user, user):
    before = credits_balance(user=user)
    page = staff_client.get(grant_url(user))
    assert page.status_code == 200
    token = form_token(page.content.decode())

    response = staff_client.post(
        grant_url(user), {"amount": 250, "note": "Conference giveaway", "token": token}
    )

    assert response.status_code == 302
    assert response["Location"] == ledger_url(user)
    assert credits_balance(user=user) == before + 250
    entry = LedgerEntry.objects.get(kind="adjustment", account__user=user)
    assert (entry.amount, entry.note, entry.created_by) == (250, "Conference giveaway", staff_user)
    assert entry.reference == f"admin:{token}"


def test_submitting_the_same_grant_form_twice_grants_once(staff_client, user):
    before = credits_balance(user=user)
    token = form_token(staff_client.get(grant_url(user)).content.decode())
    data = {"amount": 40, "note": "Sorry for the outage", "token": token}
    staff_client.post(grant_url(user), data)
    staff_client.post(grant_url(user), data)
    assert credits_balance(user=user) == before + 40
    assert LedgerEntry.objects.filter(kind="adjustment", account__user=user).count() == 1


def test_a_negative_grant_cannot_take_the_balance_below_zero(staff_client, user):
    before = credits_balance(user=user)
    token = form_token(staff_client.get(grant_url(user)).content.decode())
    response = staff_client.post(
        grant_url(user), {"amount": -(before + 1), "note": "too much", "token": token}
    )
    assert response.status_code == 200
    assert "balance is" in response.content.decode()
    assert credits_balance(user=user) == before


def test_a_grant_settles_debt_first(staff_client, user):
    CreditAccount.objects.filter(user=user).update(balance=0, debt=30)
    LedgerEntry.objects.filter(account__user=user).delete()
    token = form_token(staff_client.get(grant_url(user)).content.decode())
    staff_client.post(grant_url(user), {"amount": 100, "note": "goodwill", "token": token})
    account = credits_account(user=user)
    assert (account.balance, account.debt) == (70, 0)


def test_a_zero_grant_is_refused(staff_client, user):
    token = form_token(staff_client.get(grant_url(user)).content.decode())
    response = staff_client.post(grant_url(user), {"amount": 0, "note": "n", "token": token})
    assert response.status_code == 200
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_non_staff_cannot_grant(client, user, other_user):
    client.force_login(other_user)
    response = client.post(grant_url(user), {"amount": 1000, "note": "me", "token": "x"})
    assert response.status_code == 302  # to the admin login
    assert not LedgerEntry.objects.filter(kind="adjustment").exists()


def test_staff_see_a_users_ledger(staff_client, user, no_enqueue):
    generation = generation_services.generation_create(
        user=user, kind="text_to_video", prompt="x", params={"num_frames": 8}
    ).generation
    response = staff_client.get(ledger_url(user))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"signup:{user.pk}" in html
    assert generation.spend_reference in html
    assert "Grant credits" in html
    # The account list and change page link to it.
    assert ledger_url(user) in staff_client.get("/admin/billing/creditaccount/").content.decode()
    account = CreditAccount.objects.get(user=user)
    change = staff_client.get(f"/admin/billing/creditaccount/{account.pk}/change/")
    assert ledger_url(user) in change.content.decode()


def test_staff_refund_a_generation_with_the_admin_action(staff_client, user, no_enqueue):
    before = credits_balance(user=user)
    generation = generation_services.generation_create(
        user=user, kind="text_to_video", prompt="stuck", params={"num_frames": 8}
    ).generation
    generation_services.generation_mark_running(generation_id=generation.pk, worker="w")
    data = {"action": "fail_and_refund", "_selected_action": [str(generation.pk)]}

    response = staff_client.post("/admin/generation/generation/", data)
    staff_client.post("/admin/generation/generation/", data)  # clicked twice

    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.status == "failed"
    refund = LedgerEntry.objects.get(kind="refund", reference=generation.spend_reference)
    assert "stopped by staff" in refund.note
    assert credits_balance(user=user) == before


def test_staff_edit_credit_packs(staff_client):
    pack = CreditPack.objects.get(name="Starter")
    response = staff_client.post(
        f"/admin/billing/creditpack/{pack.pk}/change/",
        {
            "name": "Starter",
            "credits": 120,
            "price_cents": 500,
            "currency": "usd",
            "stripe_price_id": "",
            "active": "",
            "sort_order": 10,
        },
    )
    assert response.status_code == 302
    pack.refresh_from_db()
    assert (pack.credits, pack.active) == (120, False)


def test_purchase_and_event_admin_pages_load(staff_client):
    for url in ("/admin/billing/purchase/", "/admin/billing/stripeevent/", "/admin/billing/"):
        assert staff_client.get(url).status_code == 200
