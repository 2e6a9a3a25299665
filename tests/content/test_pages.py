"""Content pages: /explore/ (public gallery), /v/<id>/ share pages with OpenGraph and Twitter
player tags for anonymous visitors, and the owner's /gallery/ with publish / hide / title."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.content.models import ContentItem, Report
from tests.content.conftest import make_item

pytestmark = pytest.mark.django_db


def meta(html: str, attr: str, name: str) -> list[str]:
    return re.findall(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', html)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def test_explore_shows_public_approved_videos_with_lazy_thumbnails(client, user):
    shown = make_item(user, prompt="shown koi", visibility="public", status="approved")
    make_item(user, prompt="pending koi", visibility="public", status="pending")
    make_item(user, prompt="unlisted koi", visibility="unlisted", status="approved")
    make_item(user, prompt="private koi", status="approved")
    response = client.get("/explore/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "shown koi" in html
    assert "pending koi" not in html and "unlisted koi" not in html and "private koi" not in html
    assert f'<img src="/media/content/{shown.pk}/thumbnail" alt="" loading="lazy"' in html
    assert f'href="/v/{shown.pk}/"' in html


@pytest.mark.parametrize("visibility", ["public", "unlisted"])
def test_share_page_has_video_tags_for_anonymous_visitors(client, user, visibility):
    item = make_item(user, prompt="neon koi", visibility=visibility, status="approved")
    response = client.get(f"/v/{item.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    video = f"http://testserver/media/content/{item.pk}/video"
    assert meta(html, "property", "og:video") == [video]
    assert meta(html, "property", "og:video:type") == ["video/mp4"]
    assert meta(html, "property", "og:video:width") == ["320"]
    assert meta(html, "property", "og:image") == [
        f"http://testserver/media/content/{item.pk}/thumbnail"
    ]
    assert "player" in meta(html, "name", "twitter:card")
    assert meta(html, "name", "twitter:player:stream") == [video]
    assert meta(html, "name", "twitter:player") == [f"http://testserver/v/{item.pk}/"]
    assert f'src="{video}"' in html and "<video" in html
    assert ('<meta name="robots" content="noindex">' in html) == (visibility == "unlisted")
    # The media behind the tags answers anonymous requests too.
    assert client.get(f"/media/content/{item.pk}/video").status_code == 200


@pytest.mark.parametrize(
    ("visibility", "status"),
    [("private", "approved"), ("public", "pending"), ("public", "rejected")],
)
def test_share_page_is_a_404_for_others_until_shared_and_approved(
    client, user, other_user, visibility, status
):
    item = make_item(user, visibility=visibility, status=status)
    assert client.get(f"/v/{item.pk}/").status_code == 404
    client.force_login(other_user)
    assert client.get(f"/v/{item.pk}/").status_code == 404


def test_owner_sees_a_rejected_video_marked_removed_with_the_reason(signed_in, user, staff_user):
    from apps.content.services import content_reject

    item = make_item(user, visibility="public", status="approved")
    content_reject(item=item, actor=staff_user, reason="uses copyrighted music")
    html = signed_in.get(f"/v/{item.pk}/").content.decode()
    assert "Removed by moderators" in html and "uses copyrighted music" in html


def test_owner_publishes_hides_and_renames_from_the_share_page(signed_in, user):
    item = make_item(user)
    response = signed_in.post(
        f"/v/{item.pk}/settings/", {"title": "Koi at night", "visibility": "public"}
    )
    assert response.status_code == 302 and response["Location"] == f"/v/{item.pk}/"
    item.refresh_from_db()
    assert (item.title, item.visibility) == ("Koi at night", "public")
    page = signed_in.get(f"/v/{item.pk}/").content.decode()
    assert "once a moderator approves it" in page
    signed_in.post(f"/v/{item.pk}/settings/", {"title": "Koi", "visibility": "private"})
    item.refresh_from_db()
    assert item.visibility == "private"


def test_gallery_lists_my_videos_with_controls(signed_in, user, other_user):
    mine = make_item(user, prompt="my koi")
    make_item(other_user, prompt="their koi", visibility="public", status="approved")
    html = signed_in.get("/gallery/").content.decode()
    assert "my koi" in html and "their koi" not in html
    assert f'action="/v/{mine.pk}/settings/"' in html
    response = signed_in.post(
        f"/v/{mine.pk}/settings/", {"title": "x", "visibility": "unlisted", "next": "/gallery/"}
    )
    assert response["Location"] == "/gallery/"
    assert ContentItem.objects.get(pk=mine.pk).visibility == "unlisted"
    # An off-site `next` is ignored.
    response = signed_in.post(
        f"/v/{mine.pk}/settings/",
        {"title": "x", "visibility": "unlisted", "next": "https://evil.example/"},
    )
    assert response["Location"] == f"/v/{mine.pk}/"


def test_suspended_owner_is_told_and_stays_private(signed_in, user):
    user.can_publish = False
    user.save()
    item = make_item(user)
    response = signed_in.post(
        f"/v/{item.pk}/settings/", {"title": "x", "visibility": "public"}, follow=True
    )
    assert "suspended from publishing" in response.content.decode()
    assert ContentItem.objects.get(pk=item.pk).visibility == "private"


def test_signed_in_visitors_report_from_the_share_page(user, other_user):
    item = make_item(user, visibility="unlisted", status="approved")
    visitor = Client()
    visitor.force_login(other_user)
    assert 'name="reason"' in visitor.get(f"/v/{item.pk}/").content.decode()
    response = visitor.post(f"/v/{item.pk}/report/", {"reason": "spam"}, follow=True)
    assert "moderators will look" in response.content.decode()
    assert Report.objects.filter(item=item, reporter=other_user).exists()
    assert 'name="reason"' not in visitor.get(f"/v/{item.pk}/").content.decode()


def test_gallery_needs_sign_in(client):
    response = client.get("/gallery/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
