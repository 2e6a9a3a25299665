"""allauth's pages in the site's look: sign in with plain labels and one reset link, the whole
password-reset flow (request, done, from key, bad key, done), and the pages allauth renders with
its element templates (password change, email addresses) in the site's field and button markup."""

import re

import pytest
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pass-word-123"  # tests.factories.UserFactory's


def labels(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", label).strip()
        for label in re.findall(r"<label[^>]*>(.*?)</label>", html, re.S)
    ]


def in_site_look(html: str) -> None:
    assert 'class="page-auth' in html
    assert 'class="site-header"' in html and "/static/css/app.css" in html
    # allauth's raw markup: a <p> per field with "Label:" text.
    assert not re.search(r"<p>\s*<label", html)
    assert not any(label.endswith(":") for label in labels(html)), labels(html)


def test_sign_in_has_plain_labels_a_remember_me_checkbox_and_one_reset_link(client):
    html = client.get("/accounts/login/").content.decode()

    in_site_look(html)
    assert labels(html)[:3] == ["Username or email", "Password", "Remember me"]
    assert re.search(r'<input type="checkbox" name="remember"[^>]*id="id_remember"', html)
    assert html.count("Forgot your password?") == 1
    assert "Login:" not in html and "Remember Me" not in html


def test_sign_in_works_with_the_username_or_the_email(client):
    user = UserFactory(email="neon@example.com")
    for login in (user.username, "neon@example.com"):
        response = client.post("/accounts/login/", {"login": login, "password": PASSWORD})
        assert response.status_code == 302, login
        client.logout()


def test_a_wrong_password_says_so_in_the_site_look(client, user):
    response = client.post("/accounts/login/", {"login": user.username, "password": "nope"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="alert alert--error" role="alert"' in html
    in_site_look(html)


def test_sign_up_and_sign_out_are_in_the_site_look(client, user):
    html = client.get("/accounts/signup/").content.decode()
    in_site_look(html)
    assert labels(html)[:4] == ["Username", "Email (optional)", "Password", "Password (again)"]

    client.force_login(user)
    html = client.get("/accounts/logout/").content.decode()
    in_site_look(html)
    assert "Are you sure you want to sign out?" in html


def test_the_password_reset_flow_is_in_the_site_look(client):
    user = UserFactory(email="reset@example.com")

    html = client.get("/accounts/password/reset/").content.decode()
    in_site_look(html)
    assert "<h1>Reset your password</h1>" in html and labels(html)[0] == "Email"

    response = client.post("/accounts/password/reset/", {"email": "reset@example.com"})
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    in_site_look(html)
    assert "<h1>Check your email</h1>" in html

    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    response = client.get(link.group(1), follow=True)
    html = response.content.decode()
    in_site_look(html)
    assert "<h1>Choose a new password</h1>" in html
    assert labels(html)[:2] == ["New password", "New password (again)"]

    new = "brand-new-neon-77"
    response = client.post(
        response.redirect_chain[-1][0] if response.redirect_chain else link.group(1),
        {"password1": new, "password2": new},
        follow=True,
    )
    html = response.content.decode()
    in_site_look(html)
    assert "<h1>Password changed</h1>" in html
    user.refresh_from_db()
    assert user.check_password(new)


def test_a_used_or_bad_reset_link_says_so_and_offers_a_new_one(client, user):
    html = client.get("/accounts/password/reset/key/1-bad-token/").content.decode()
    in_site_look(html)
    assert "<h1>This link has expired</h1>" in html
    assert 'href="/accounts/password/reset/"' in html


@pytest.mark.parametrize("path", ["/accounts/password/change/", "/accounts/email/"])
def test_allauths_element_pages_use_the_site_markup(client, user, path):
    client.force_login(user)
    response = client.get(path)
    html = response.content.decode()

    assert response.status_code == 200
    in_site_look(html)
    assert 'class="page-auth page-allauth"' in html
    assert '<meta name="robots" content="noindex">' in html
    assert re.search(r'<button class="btn btn--primary"[^>]*type="submit"', html)
    assert 'class="field' in html


def dangling_references(html: str) -> list[str]:
    """Ids named by aria-describedby / aria-labelledby / label[for] that no element carries."""
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    named = re.findall(r'\saria-(?:describedby|labelledby)="([^"]*)"', html)
    named += re.findall(r'<label[^>]*\sfor="([^"]+)"', html)
    return [ref for refs in named for ref in refs.split() if ref not in ids]


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/accounts/login/", False),
        ("/accounts/signup/", False),
        ("/accounts/password/reset/", False),
        ("/accounts/password/reset/key/1-bad-token/", False),
        ("/accounts/logout/", True),
        ("/accounts/password/change/", True),
        ("/accounts/email/", True),
    ],
)
def test_no_auth_page_points_at_an_element_it_does_not_have(client, user, path, signed_in):
    if signed_in:
        client.force_login(user)
    html = client.get(path).content.decode()
    assert dangling_references(html) == []


def test_the_sign_in_password_is_described_by_its_error_only(client, user):
    html = client.get("/accounts/login/").content.decode()
    password = re.search(r'<input type="password" name="password"[^>]*>', html).group(0)
    # allauth's help text (a reset link) is left out; the link is below the form instead.
    assert "aria-describedby" not in password
    assert "id_password_helptext" not in html

    response = client.post("/accounts/login/", {"login": user.username, "password": "nope"})
    html = response.content.decode()
    assert dangling_references(html) == []


def test_a_field_error_describes_its_input(client, user):
    response = client.post("/accounts/signup/", {"username": user.username, "password1": "x"})
    html = response.content.decode()
    username = re.search(r'<input type="text" name="username"[^>]*>', html).group(0)
    assert re.search(r'aria-describedby="[^"]*\bid_username_error\b', username), username
    assert dangling_references(html) == []
