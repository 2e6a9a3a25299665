"""A person's path through the site in a real headless Chromium, against the real daphne server
and a real Celery worker over Redis: sign up, create a video from a prompt, watch the job page
turn into a player without a reload, and play the MP4 in the browser.

The worker is the same process the `worker` fixture starts (tests.processes.celery_worker), but
started inside the test once the job page shows the job queued: so the page is certainly
watching an unfinished job, and what turns it into a player is the page's own live updates,
never a page load that happened to come after the end.
"""

import re

import pytest
from playwright.sync_api import expect

from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests import processes
from tests.e2e.browser import open_page, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_web):
    with open_page(browser, live_web) as page:
        yield page


def sign_up(page, username: str, shoot=screenshot) -> None:
    page.goto("/")
    shoot(page, "home")
    page.get_by_role("link", name="Sign up free").click()
    expect(page).to_have_title(re.compile("^Create an account"))
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="email"]').fill(f"{username}@example.com")
    page.locator('input[name="password1"]').fill("neon-lights-42-x")
    page.locator('input[name="password2"]').fill("neon-lights-42-x")
    shoot(page, "signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/create/$"))


API_DETAIL = re.compile(r"/api/v1/generations/[0-9a-f-]{36}/$")


@pytest.mark.parametrize("updates", ["live", "polling"])
def test_sign_up_create_from_prompt_and_play_the_video(page, updates):
    """`live`: the pages as shipped (live.js when present, else app.js polling). `polling`:
    live.js switched off, so app.js's REST polling alone must carry the page to the player."""
    if updates == "polling":
        page.route(
            "**/static/js/live.js",
            lambda route: route.fulfill(status=200, content_type="text/javascript", body=""),
        )
    polls = []
    page.on("request", lambda r: polls.append(r.url) if API_DETAIL.search(r.url) else None)
    shoot = screenshot if updates == "live" else lambda page, name: None

    sign_up(page, f"e2e-{updates}", shoot=shoot)
    expect(page.locator("[data-credits] strong")).to_have_text("50")

    page.get_by_role("tab", name="Text → Video").click()
    expect(page.get_by_role("tabpanel", name="Text → Video")).to_be_visible()
    prompt = page.locator("#text_to_video-prompt")
    prompt.fill("neon rain over a quiet harbour, slow drift")
    expect(page.locator('[data-counter-for="text_to_video-prompt"]')).to_contain_text("42 / 2000")
    page.locator("#text_to_video-num_frames").fill("16")
    page.locator("#text_to_video-size").select_option("320x192")
    generate = page.locator("#panel-text_to_video [data-generate]")
    expect(generate).to_have_text("Generate · 1 credit · procedural engine (CPU)")
    shoot(page, "create")
    generate.click()

    # No worker runs yet, so the job is certainly queued when its page first shows.
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    generation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    job = page.locator(f'[data-generation-id="{generation_id}"]')
    expect(job.locator('[data-field="status"]')).to_have_text("Queued")
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    expect(page.locator(".messages")).to_contain_text("Your video is queued")
    expect(page).to_have_title(re.compile(r"^Making: neon rain"))
    shoot(page, "job-queued")
    page.evaluate("window.__sameDocument = true")

    # The real worker picks the job up; the page becomes a player in place, without a reload.
    with processes.celery_worker():
        video = page.locator("video")
        expect(video).to_be_attached(timeout=60_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    if updates == "polling":
        assert len(polls) >= 2, polls  # polled while active, then read the finished job
    expect(job.locator('[data-field="status"]')).to_have_text("Succeeded")
    expect(page.get_by_role("status").filter(has_text="Your video is ready.")).to_be_visible()
    expect(page.get_by_role("progressbar")).to_be_hidden()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    # The redirect's "queued" banner and the "Making" title do not outlive the job.
    expect(page.locator(".messages")).to_have_count(0)
    expect(page).to_have_title(re.compile(r"^Video: neon rain"))
    expect(page.get_by_role("link", name="Download MP4")).to_have_attribute(
        "href", re.compile(f"/media/generations/{generation_id}/video$")
    )
    for attribute in ("controls", "playsinline", "loop"):
        expect(video).to_have_attribute(attribute, "")
    expect(video).to_have_attribute("preload", "metadata")
    expect(video).to_have_attribute("poster", re.compile("/thumbnail$"))

    page.evaluate(
        """async () => {
            const video = document.querySelector("video");
            video.muted = true;
            await video.play();
        }"""
    )
    page.wait_for_function(
        """() => {
            const video = document.querySelector("video");
            return video.currentTime > 0 && video.readyState >= 2;
        }""",
        timeout=30_000,
    )
    played = page.evaluate(
        """() => {
            const v = document.querySelector("video");
            return {width: v.videoWidth, height: v.videoHeight, error: v.error && v.error.code};
        }"""
    )

    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == Generation.Status.SUCCEEDED
    assert played == {"width": generation.width, "height": generation.height, "error": None}
    assert (generation.width, generation.height, generation.num_frames) == (320, 192, 16)
    assert credits_balance(user=generation.user) == 50 - generation.cost_credits
    shoot(page, "job-done")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="My videos").click()
    card = page.locator(f'a[href="/jobs/{generation_id}/"]')
    expect(card.locator(".chip")).to_have_text("Succeeded")
    expect(card.locator("img")).to_have_js_property("complete", True)
    assert card.locator("img").evaluate("img => img.naturalWidth") == 320
    shoot(page, "jobs")


def test_a_queued_job_is_canceled_from_its_page_and_refunded(page):
    sign_up(page, "e2e-canceler")
    page.goto("/create/?kind=text_to_video")
    page.locator("#text_to_video-prompt").fill("a job that will not run")
    page.get_by_role("button", name=re.compile("^Generate")).click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    expect(page.locator("[data-credits] strong")).to_have_text("49")

    page.get_by_role("button", name="Cancel").click()

    # Whether the cancel goes over the websocket (live.js) or as a form post and reload, the
    # person sees the same end: the job canceled, the refund said and the balance restored.
    expect(page.locator('[data-field="status"]')).to_have_text("Canceled")
    expect(page.locator('[data-field="error"]')).to_contain_text(
        "Canceled. Your credits were refunded."
    )
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.get_by_role("progressbar")).to_be_hidden()
    expect(page.locator("[data-credits] strong")).to_have_text("50")
    generation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    assert Generation.objects.get(pk=generation_id).status == Generation.Status.CANCELED
    screenshot(page, "job-canceled")


def test_keyboard_focus_is_visible_and_reduced_motion_stops_animations(page):
    page.goto("/")
    brand = page.locator(".brand__accent")
    assert brand.evaluate("el => getComputedStyle(el).animationName") == "flicker"

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    assert skip.evaluate("el => getComputedStyle(el).outlineStyle") == "solid"

    page.emulate_media(reduced_motion="reduce")
    assert brand.evaluate("el => getComputedStyle(el).animationName") == "none"
