"""The credits pages: balance, packs and ledger; buying through Checkout; success and cancel."""

import pytest

from apps.billing.models import CreditAccount, CreditPack, Purchase
from apps.billing.selectors import credits_balance
from apps.billing.services import purchase_checkout_start
from tests.billing.conftest import deliver

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_credits_page_needs_sign_in(client):
    response = client.get("/credits/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_credits_page_without_stripe_shows_buying_as_unavailable(signed_in, user, stripe_off):
    response = signed_in.get("/credits/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Buying credits is not available on this server" in html
    assert "data-buying-unavailable" in html
    for pack in CreditPack.objects.filter(active=True):
        assert pack.name in html
        assert f"/credits/buy/{pack.pk}/" not in html
    assert f"data-balance>{credits_balance(user=user)}<" in html
    assert "Welcome credits" in html  # the sign-up grant in the ledger table


def test_credits_page_with_stripe_offers_buy_buttons(signed_in, stripe_on):
    html = signed_in.get("/credits/").content.decode()
    assert "data-buying-unavailable" not in html
    for pack in CreditPack.objects.filter(active=True):
        assert f'action="/credits/buy/{pack.pk}/"' in html


def test_credits_page_shows_debt(signed_in, user):
    CreditAccount.objects.filter(user=user).update(debt=12)
    html = signed_in.get("/credits/").content.decode()
    assert "data-debt" in html and "<strong>12</strong>" in html


def test_buy_redirects_to_stripe_checkout(signed_in, user, pack, stripe_on):
    response = signed_in.post(f"/credits/buy/{pack.pk}/")
    purchase = Purchase.objects.get(user=user)
    assert response.status_code == 303
    assert response["Location"] == stripe_on.sessions[purchase.stripe_session_id]["url"]
    assert response["Location"].startswith("https://checkout.stripe.com/")


def test_buy_without_stripe_comes_back_with_a_message(signed_in, pack, stripe_off):
    response = signed_in.post(f"/credits/buy/{pack.pk}/", follow=True)
    assert response.redirect_chain[-1][0] == "/credits/"
    assert "Buying credits is not available on this server" in response.content.decode()
    assert not Purchase.objects.exists()


def test_buy_is_post_only(signed_in, pack, stripe_on):
    assert signed_in.get(f"/credits/buy/{pack.pk}/").status_code == 405


def test_success_page_confirms_then_shows_the_credited_amount(
    client, signed_in, user, pack, stripe_on
):
    signed_in.post(f"/credits/buy/{pack.pk}/")
    purchase = Purchase.objects.get(user=user)
    url = f"/credits/success/?session_id={purchase.stripe_session_id}"

    pending = signed_in.get(url)
    assert pending.status_code == 200
    html = pending.content.decode()
    assert "Confirming payment…" in html
    assert 'http-equiv="refresh"' in html
    # The page asked Stripe, which still says unpaid.
    assert stripe_on.requests[-1].method == "GET"

    session = stripe_on.complete(purchase.stripe_session_id)
    assert (
        deliver(client, stripe_on.event("checkout.session.completed", session)).json()["outcome"]
        == "credited"
    )

    done = signed_in.get(url).content.decode()
    assert "Confirming payment" not in done
    assert "<strong>500 credits</strong> were added" in done
    assert f"<strong>{credits_balance(user=user)}</strong>" in done


def test_success_page_credits_when_stripe_says_paid_before_the_webhook(
    signed_in, user, pack, stripe_on
):
    before = credits_balance(user=user)
    signed_in.post(f"/credits/buy/{pack.pk}/")
    purchase = Purchase.objects.get(user=user)
    stripe_on.complete(purchase.stripe_session_id)
    url = f"/credits/success/?session_id={purchase.stripe_session_id}"

    html = signed_in.get(url).content.decode()
    signed_in.get(url)  # refreshed

    assert "500 credits</strong> were added" in html
    assert credits_balance(user=user) == before + 500
    purchase.refresh_from_db()
    assert purchase.status == "paid"


def test_success_page_for_a_session_that_is_not_yours_is_404(
    client, other_user, user, pack, stripe_on
):
    purchase = purchase_checkout_start(
        user=user, pack_id=pack.pk, success_url="http://x/s", cancel_url="http://x/c"
    )
    client.force_login(other_user)
    response = client.get(f"/credits/success/?session_id={purchase.stripe_session_id}")
    assert response.status_code == 404
    assert "Purchase not found" in response.content.decode()


def test_cancel_page(signed_in):
    response = signed_in.get("/credits/cancel/")
    assert response.status_code == 200
    assert "nothing was charged" in response.content.decode()
