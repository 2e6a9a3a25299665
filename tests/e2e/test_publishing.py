"""Publishing, end to end in a real browser: sign in, make a (small, procedural) video through
the real web server and worker, publish it, approve it as staff in the admin, and find it on
/explore/ and its share page as an anonymous visitor."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from tests.factories import UserFactory

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.integration,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "pass-word-123"
TITLE = "E2E neon koi"


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    page.wait_for_load_state()
    assert "/accounts/login/" not in page.url, page.content()[:2000]


def csrf_headers(context, base: str) -> dict[str, str]:
    token = next(c["value"] for c in context.cookies(base) if c["name"] == "csrftoken")
    return {"X-CSRFToken": token, "Content-Type": "application/json"}


def wait_for_status(context, url: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = context.request.get(url).json()
        if body["status"] in ("succeeded", "failed", "canceled"):
            return body
        time.sleep(0.25)
    raise AssertionError(f"the generation did not finish: {body}")


def test_publish_approve_and_explore(live_web, worker, browser):
    maker = UserFactory()
    moderator = UserFactory(is_staff=True, is_superuser=True)
    # --- the maker signs in and makes a video --------------------------------------
    maker_ctx = browser.new_context()
    page = maker_ctx.new_page()
    sign_in(page, live_web, maker.username)
    created = maker_ctx.request.post(
        f"{live_web}/api/v1/generations/",
        data=json.dumps(
            {
                "kind": "text_to_video",
                "engine": "procedural",
                "prompt": "a neon koi circling in the rain",
                "params": {"num_frames": 8, "width": 320, "height": 192, "fps": 8},
            }
        ),
        headers=csrf_headers(maker_ctx, live_web),
    )
    assert created.status == 201, created.text()
    done = wait_for_status(maker_ctx, f"{live_web}/api/v1/generations/{created.json()['id']}/")
    assert done["status"] == "succeeded", done["error"]

    # --- it is in the maker's gallery, private and pending: publish it ----------------
    mine = maker_ctx.request.get(f"{live_web}/api/v1/content/mine/").json()["results"]
    assert [(i["visibility"], i["moderation_status"]) for i in mine] == [("private", "pending")]
    item_id = mine[0]["id"]
    page.goto(f"{live_web}/gallery/")
    card = page.locator(f"[data-content-id='{item_id}']")
    card.locator("input[name=title]").fill(TITLE)
    card.locator("select[name=visibility]").select_option("public")
    card.get_by_role("button", name="Save").click()
    expect(page.locator(".messages")).to_contain_text("once a moderator approves it")

    # --- not on /explore/ yet ----------------------------------------------------------
    visitor_ctx = browser.new_context()
    visitor = visitor_ctx.new_page()
    visitor.goto(f"{live_web}/explore/")
    expect(visitor.get_by_text(TITLE)).to_have_count(0)
    assert visitor_ctx.request.get(f"{live_web}/v/{item_id}/").status == 404

    # --- a moderator approves it in the admin's moderation queue ----------------------
    staff_ctx = browser.new_context()
    staff = staff_ctx.new_page()
    staff.goto(f"{live_web}/admin/login/?next=/admin/content/moderationqueueitem/")
    staff.fill("input[name=username]", moderator.username)
    staff.fill("input[name=password]", PASSWORD)
    staff.locator("input[type=submit], button[type=submit]").first.click()
    row_box = staff.locator(f"input[name=_selected_action][value='{item_id}']")
    expect(row_box).to_be_visible()
    expect(staff.locator(f"img[src='/media/content/{item_id}/thumbnail']")).to_be_visible()
    row_box.check()
    staff.locator("select[name=action]").select_option("approve_items")
    staff.locator("button[name=index]").click()
    expect(staff.locator("ul.messagelist")).to_contain_text("Approved 1 video")

    # --- an anonymous visitor finds it and watches it ---------------------------------
    visitor.goto(f"{live_web}/explore/")
    link = visitor.get_by_role("link", name=TITLE)
    expect(link).to_be_visible()
    thumb = visitor.locator(f"img[src='/media/content/{item_id}/thumbnail']")
    expect(thumb).to_have_attribute("loading", "lazy")
    link.click()
    expect(visitor).to_have_url(f"{live_web}/v/{item_id}/")
    video_url = f"{live_web}/media/content/{item_id}/video"
    expect(visitor.locator("meta[property='og:video']")).to_have_attribute("content", video_url)
    expect(visitor.locator("meta[name='twitter:card'][content='player']")).to_have_count(1)
    expect(visitor.locator("video")).to_have_attribute("src", video_url)
    # The browser can actually load and decode the video.
    visitor.wait_for_function("document.querySelector('video').readyState >= 1", timeout=30_000)
    media = visitor_ctx.request.get(video_url)
    assert media.status == 200 and media.headers["content-type"] == "video/mp4"
