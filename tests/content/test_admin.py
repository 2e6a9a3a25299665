"""The moderation panel (Django admin), driven by the test client as staff: the queue and the
library with thumbnails and a player, filters, and every bulk action recorded in the log."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.content.models import ContentItem, ModerationAction
from apps.content.services import content_report
from tests.content.conftest import make_item

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/content/contentitem/"
QUEUE = "/admin/content/moderationqueueitem/"


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def act(client, action: str, items, url=CHANGELIST, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(i.pk) for i in items], **extra}
    return client.post(url, data)


def test_non_staff_cannot_open_the_panel(client, user):
    client.force_login(user)
    response = client.get(CHANGELIST)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_library_lists_thumbnails_and_filters(staff, user, other_user):
    item = make_item(user, visibility="public")
    make_item(other_user, status="approved")
    page = staff.get(CHANGELIST).content.decode()
    assert f'src="/media/content/{item.pk}/thumbnail"' in page
    assert 'loading="lazy"' in page
    for name in ("moderation_status", "reported", "visibility", "persona", "owner"):
        assert f"{name}" in page
    pending = staff.get(CHANGELIST, {"moderation_status__exact": "pending"})
    assert list(pending.context["cl"].result_list) == [item]
    by_owner = staff.get(CHANGELIST, {"owner__id__exact": other_user.pk})
    assert [i.owner for i in by_owner.context["cl"].result_list] == [other_user]
    # Staff can fetch the thumbnail and the video of any item, private or not.
    assert staff.get(f"/media/content/{item.pk}/thumbnail").status_code == 200


def test_queue_holds_pending_and_reported_items_only(staff, user, other_user):
    pending = make_item(user)
    approved = make_item(user, visibility="public", status="approved")
    reported = make_item(user, visibility="public", status="approved")
    content_report(item=reported, reporter=other_user, reason="offensive")
    queue = staff.get(QUEUE)
    assert {i.pk for i in queue.context["cl"].result_list} == {pending.pk, reported.pk}
    reported_filter = staff.get(CHANGELIST, {"reported": "open"})
    assert [i.pk for i in reported_filter.context["cl"].result_list] == [reported.pk]
    assert approved.pk not in {i.pk for i in queue.context["cl"].result_list}


def test_change_page_has_an_inline_player_and_the_log(staff, user, other_user):
    item = make_item(user, visibility="public")
    content_report(item=item, reporter=other_user, reason="looks stolen")
    page = staff.get(f"{CHANGELIST}{item.pk}/change/").content.decode()
    assert (
        f'<video controls playsinline preload="metadata" src="/media/content/{item.pk}/video"'
        in page
    )
    assert "looks stolen" in page
    assert "a neon koi in the rain" in page  # the prompt


def test_approve_action(staff, staff_user, user, other_user):
    items = [make_item(user, visibility="public"), make_item(user, visibility="public")]
    content_report(item=items[0], reporter=other_user, reason="hmm")
    response = act(staff, "approve_items", items)
    assert response.status_code == 302
    for item in items:
        item.refresh_from_db()
        assert item.moderation_status == "approved" and item.flagged_at is None
    log = ModerationAction.objects.filter(action="approve")
    assert log.count() == 2 and {a.actor for a in log} == {staff_user}
    assert staff.get(QUEUE).context["cl"].result_count == 0


def test_reject_asks_for_a_reason_then_records_it(staff, staff_user, user):
    item = make_item(user, visibility="public", status="approved")
    form = act(staff, "reject_items", [item])
    assert form.status_code == 200
    assert "Reject videos" in form.content.decode() and 'name="reason"' in form.content.decode()
    item.refresh_from_db()
    assert item.moderation_status == "approved"

    empty = act(staff, "reject_items", [item], apply="1", reason="  ")
    assert empty.status_code == 200  # the form again, with its error
    item.refresh_from_db()
    assert item.moderation_status == "approved"

    done = act(staff, "reject_items", [item], apply="1", reason="copyrighted music")
    assert done.status_code == 302
    item.refresh_from_db()
    assert item.moderation_status == "rejected"
    action = ModerationAction.objects.get(action="reject")
    assert (action.item, action.actor, action.reason) == (item, staff_user, "copyrighted music")
    assert action.target_user == user and action.created_at is not None


def test_refund_action_refunds_once(staff, user):
    item = make_item(user)
    balance = credits_balance(user=user)
    assert act(staff, "refund_items", [item]).status_code == 200  # asks for the reason
    assert act(staff, "refund_items", [item], apply="1", reason="broken video").status_code == 302
    assert credits_balance(user=user) == balance + item.generation.cost_credits
    act(staff, "refund_items", [item], apply="1", reason="again")
    assert credits_balance(user=user) == balance + item.generation.cost_credits
    reference = item.generation.spend_reference
    assert LedgerEntry.objects.filter(kind="refund", reference=reference).count() == 1
    action = ModerationAction.objects.get(action="refund")
    assert action.reason == "broken video" and action.details == {"credits": 1}


def test_suspend_action_stops_publishing(staff, staff_user, user, api):
    items = [make_item(user, visibility="public", status="approved"), make_item(user)]
    assert act(staff, "suspend_owners", items, apply="1", reason="spam ring").status_code == 302
    user.refresh_from_db()
    assert user.can_publish is False
    assert ContentItem.objects.get(pk=items[0].pk).visibility == "private"
    assert ModerationAction.objects.filter(action="suspend").count() == 1  # one per owner
    refused = api.patch(f"/api/v1/content/{items[1].pk}/", {"visibility": "public"}, format="json")
    assert refused.status_code == 403

    act(staff, "reinstate_owners", items)
    user.refresh_from_db()
    assert user.can_publish is True
    assert ModerationAction.objects.filter(action="reinstate", actor=staff_user).count() == 1


def test_the_log_is_read_only(staff, user):
    item = make_item(user)
    act(staff, "approve_items", [item])
    action = ModerationAction.objects.get()
    assert staff.get("/admin/content/moderationaction/").status_code == 200
    assert staff.post(f"/admin/content/moderationaction/{action.pk}/delete/").status_code == 403
    assert staff.get("/admin/content/contentitem/add/").status_code == 403
