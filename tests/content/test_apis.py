"""The content REST contract: fields, the public gallery per state, media access per state
(anonymous, owner, stranger, staff), owner changes, reports and staff moderation."""

from __future__ import annotations

import itertools

import pytest
from rest_framework.pagination import PageNumberPagination
from rest_framework.test import APIClient

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.content.models import ContentItem, ModerationAction, Report
from tests.content.conftest import THUMB_BYTES, VIDEO_BYTES, make_item

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "generation",
    "title",
    "visibility",
    "moderation_status",
    "video_url",
    "thumbnail_url",
    "owner",
    "persona",
    "created_at",
}
VISIBILITIES = ["private", "unlisted", "public"]
STATUSES = ["pending", "approved", "rejected"]
STATES = list(itertools.product(VISIBILITIES, STATUSES))


def shared(visibility: str, status: str) -> bool:
    return visibility in ("unlisted", "public") and status == "approved"


@pytest.fixture
def viewers(user, other_user, staff_user, api_for):
    return {
        "anonymous": APIClient(),
        "owner": api_for(user),
        "stranger": api_for(other_user),
        "staff": api_for(staff_user),
    }


def test_item_fields_follow_the_contract(api, user):
    item = make_item(user, prompt="a neon koi in the rain")
    body = api.get(f"/api/v1/content/{item.pk}/").json()
    assert set(body) >= FIELDS
    assert body["generation"] == str(item.generation_id)
    assert body["owner"] == user.username
    assert body["title"] == "a neon koi in the rain"
    assert (body["visibility"], body["moderation_status"]) == ("private", "pending")
    assert body["video_url"].endswith(f"/media/content/{item.pk}/video")
    assert body["thumbnail_url"].endswith(f"/media/content/{item.pk}/thumbnail")
    assert body["persona"] is None


@pytest.mark.parametrize(("visibility", "status"), STATES)
def test_public_gallery_shows_only_public_and_approved(user, visibility, status):
    item = make_item(user, visibility=visibility, status=status)
    body = APIClient().get("/api/v1/content/").json()
    ids = [row["id"] for row in body["results"]]
    assert (str(item.pk) in ids) == (visibility == "public" and status == "approved")


def test_public_gallery_is_every_users_newest_first_and_paginated(user, other_user, monkeypatch):
    monkeypatch.setattr(PageNumberPagination, "page_size", 2)
    items = [
        make_item(owner, visibility="public", status="approved")
        for owner in (user, other_user, user)
    ]
    make_item(other_user, visibility="public", status="pending")
    first = APIClient().get("/api/v1/content/").json()
    assert first["count"] == 3 and first["next"]
    assert [r["id"] for r in first["results"]] == [str(items[2].pk), str(items[1].pk)]
    assert {r["owner"] for r in first["results"]} == {user.username, other_user.username}


def test_mine_lists_every_state_of_my_items_only(api, user, other_user):
    mine = [make_item(user, visibility=v, status=s) for v, s in STATES]
    make_item(other_user, visibility="public", status="approved")
    body = api.get("/api/v1/content/mine/").json()
    assert body["count"] == len(mine)
    assert {r["id"] for r in body["results"]} == {str(i.pk) for i in mine}
    assert APIClient().get("/api/v1/content/mine/").status_code == 401


@pytest.mark.parametrize(("visibility", "status"), STATES)
@pytest.mark.parametrize("viewer", ["anonymous", "owner", "stranger", "staff"])
def test_item_and_media_access_per_state(viewers, user, viewer, visibility, status):
    item = make_item(user, visibility=visibility, status=status)
    client = viewers[viewer]
    allowed = viewer in ("owner", "staff") or shared(visibility, status)
    detail = client.get(f"/api/v1/content/{item.pk}/")
    video = client.get(f"/media/content/{item.pk}/video")
    thumb = client.get(f"/media/content/{item.pk}/thumbnail")
    expected = 200 if allowed else 404
    assert (detail.status_code, video.status_code, thumb.status_code) == (expected,) * 3
    if allowed:
        assert detail.json()["moderation_status"] == status
        assert video["Content-Type"] == "video/mp4"
        assert b"".join(video.streaming_content) == VIDEO_BYTES
        assert b"".join(thumb.streaming_content) == THUMB_BYTES
        assert thumb["Content-Type"] == "image/jpeg"
    if viewer == "owner" and status == "rejected":
        assert detail.json()["removed"] is True


def test_shared_media_is_served_with_ranges_and_cache_headers(user):
    item = make_item(user, visibility="unlisted", status="approved")
    response = APIClient().get(f"/media/content/{item.pk}/video", HTTP_RANGE="bytes=0-99")
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 0-99/{len(VIDEO_BYTES)}"
    assert b"".join(response.streaming_content) == VIDEO_BYTES[:100]
    assert response["Cache-Control"].startswith("public")
    assert response["X-Robots-Tag"] == "noindex"  # unlisted: not for search engines
    ContentItem.objects.filter(pk=item.pk).update(visibility="public")
    public = APIClient().get(f"/media/content/{item.pk}/video")
    assert "X-Robots-Tag" not in public


def test_owner_sets_title_and_visibility(api, user):
    item = make_item(user)
    response = api.patch(
        f"/api/v1/content/{item.pk}/",
        {"title": "  My   koi  ", "visibility": "public"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["title"] == "My koi"
    assert response.json()["visibility"] == "public"
    assert response.json()["moderation_status"] == "pending"  # still waits for staff


@pytest.mark.parametrize(
    "body",
    [{"moderation_status": "approved"}, {"visibility": "everyone"}, {"owner": "someone"}],
)
def test_owner_cannot_set_anything_else(api, user, body):
    item = make_item(user)
    response = api.patch(f"/api/v1/content/{item.pk}/", body, format="json")
    assert response.status_code == 400
    item.refresh_from_db()
    assert (item.visibility, item.moderation_status) == ("private", "pending")


def test_titles_are_screened(api, user, settings):
    settings.CONTENT_BLOCKLIST = ["bad words"]
    item = make_item(user)
    response = api.patch(f"/api/v1/content/{item.pk}/", {"title": "BAD words!"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "prompt_blocked"


def test_report_flags_the_item_for_the_queue_once_per_reporter(api_for, user, other_user):
    item = make_item(user, visibility="public", status="approved")
    client = api_for(other_user)
    response = client.post(f"/api/v1/content/{item.pk}/report/", {"reason": "spam"}, format="json")
    assert response.status_code == 201
    assert response.json()["item"] == str(item.pk)
    item.refresh_from_db()
    assert item.reports_count == 1 and item.flagged_at is not None and item.needs_review
    assert item.moderation_status == "approved"  # one report does not take it down
    again = client.post(f"/api/v1/content/{item.pk}/report/", {"reason": "spam"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_reported"
    assert Report.objects.filter(item=item).count() == 1


def test_report_needs_a_reason_a_sign_in_and_someone_elses_item(api, api_for, user, other_user):
    item = make_item(user, visibility="public", status="approved")
    url = f"/api/v1/content/{item.pk}/report/"
    assert api_for(other_user).post(url, {"reason": ""}, format="json").status_code == 400
    assert APIClient().post(url, {"reason": "spam"}, format="json").status_code == 401
    own = api.post(url, {"reason": "mine"}, format="json")
    assert own.status_code == 400 and own.json()["code"] == "own_item"


def test_staff_approve_and_reject_through_the_api(api_for, staff_user, user):
    item = make_item(user, visibility="public")
    staff = api_for(staff_user)
    url = f"/api/v1/content/{item.pk}/moderate/"
    approved = staff.post(url, {"action": "approve"}, format="json")
    assert approved.status_code == 200 and approved.json()["moderation_status"] == "approved"
    assert APIClient().get("/api/v1/content/").json()["count"] == 1

    no_reason = staff.post(url, {"action": "reject"}, format="json")
    assert no_reason.status_code == 400
    rejected = staff.post(url, {"action": "reject", "reason": "stolen footage"}, format="json")
    assert rejected.status_code == 200 and rejected.json()["moderation_status"] == "rejected"
    assert APIClient().get("/api/v1/content/").json()["count"] == 0
    log = list(ModerationAction.objects.filter(item=item).order_by("created_at"))
    assert [(a.action, a.actor, a.reason) for a in log] == [
        ("approve", staff_user, ""),
        ("reject", staff_user, "stolen footage"),
    ]


def test_staff_refund_through_the_api_happens_once(api_for, staff_user, user):
    item = make_item(user)
    before = credits_balance(user=user)
    staff = api_for(staff_user)
    url = f"/api/v1/content/{item.pk}/moderate/"
    assert (
        staff.post(url, {"action": "refund", "reason": "broken"}, format="json").status_code == 200
    )
    assert credits_balance(user=user) == before + item.generation.cost_credits
    again = staff.post(url, {"action": "refund", "reason": "broken"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_refunded"
    refunds = LedgerEntry.objects.filter(kind="refund", reference=item.generation.spend_reference)
    assert refunds.count() == 1
    assert ModerationAction.objects.filter(item=item, action="refund").count() == 1


def test_suspended_owner_cannot_share(api, api_for, staff_user, user):
    shared_item = make_item(user, visibility="public", status="approved")
    other = make_item(user)
    response = api_for(staff_user).post(
        f"/api/v1/content/{other.pk}/moderate/",
        {"action": "suspend", "reason": "repeated spam"},
        format="json",
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.can_publish is False
    shared_item.refresh_from_db()
    assert shared_item.visibility == "private"  # taken out of the gallery
    for visibility in ("public", "unlisted"):
        refused = api.patch(
            f"/api/v1/content/{other.pk}/", {"visibility": visibility}, format="json"
        )
        assert refused.status_code == 403
        assert refused.json()["code"] == "publishing_suspended"
        assert "suspended" in refused.json()["detail"]
    assert (
        api.patch(f"/api/v1/content/{other.pk}/", {"title": "ok"}, format="json").status_code == 200
    )
    action = ModerationAction.objects.get(action="suspend")
    assert (action.target_user, action.actor, action.reason) == (user, staff_user, "repeated spam")
    assert action.details == {"hidden_items": 1}


def test_moderate_rejects_unknown_actions(api_for, staff_user, user):
    item = make_item(user)
    response = api_for(staff_user).post(
        f"/api/v1/content/{item.pk}/moderate/", {"action": "delete"}, format="json"
    )
    assert response.status_code == 400
