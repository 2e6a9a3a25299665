"""Every page a visitor can reach, in a real headless Chromium against the real daphne server:
a screenshot at 1440 and 375 px of each (test-artifacts/screenshots/), none scrolling sideways at
375 px; the menu button that folds the navigation on a phone; the self-hosted fonts in use.

The storyboard job page is shot here waiting for its scenes (storyboard-job-page-queued) and by
test_storyboard_editor.py as it runs (storyboard-job-*); the job page that turns finished live
by test_create_flow.py (job-queued, job-done).
"""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.billing.models import Purchase
from apps.generation import services
from apps.generation.storyboards.services import storyboard_create
from apps.personas.models import Persona
from tests.e2e.browser import VIEWPORTS, open_page, screenshot
from tests.e2e.test_studio import public_video, sign_in, text_job
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = VIEWPORTS[1]
FONTS = [
    "orbitron-latin-400-normal.woff2",
    "orbitron-latin-700-normal.woff2",
    "roboto-mono-latin-400-normal.woff2",
    "roboto-mono-latin-500-normal.woff2",
]


@pytest.fixture
def page(browser, live_web):
    with open_page(browser, live_web) as page:
        yield page


def test_every_page_at_both_widths(page):
    # Public pages, signed out, on a fresh install (no showcase yet).
    page.goto("/")
    expect(page.locator("[data-showcase-empty]")).to_be_visible()
    screenshot(page, "home-empty")
    for path, name, heading in [
        ("/accounts/login/", "signin", "Sign in"),
        ("/accounts/signup/", "signup", "Create an account"),
        ("/accounts/password/reset/", "password-reset", "Reset your password"),
        ("/accounts/password/reset/key/1-bad-token/", "password-reset-bad-key", "expired"),
        ("/explore/", "explore-empty", None),
        ("/no-such-page/", "404", None),
    ]:
        page.goto(path)
        if heading:
            expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
        screenshot(page, name)

    user = UserFactory()
    item = public_video(user, "Neon harbour at night", (200, 40, 180))
    public_video(user, "Rain on the arcade", (40, 200, 255))
    queued = text_job(user, prompt="a koi waiting its turn")
    running = text_job(user, prompt="a koi mid-render")
    services.generation_mark_running(generation_id=running.pk, worker="test")
    board = storyboard_create(
        user=user,
        quality="draft",
        scenes=[
            {"prompt": "neon rain over a harbour", "duration": 1.5},
            {"prompt": "a lighthouse at night", "duration": 1.5},
        ],
    ).generation
    persona = Persona.objects.create(
        user=user, name="Neon cat", description="a cat with cyan eyes", style="synthwave"
    )
    Purchase.objects.create(
        user=user,
        credits=100,
        amount_cents=500,
        currency="usd",
        status=Purchase.Status.PAID,
        stripe_session_id="cs_test_pages_look",
        paid_at=timezone.now(),
    )

    page.goto("/")
    expect(page.locator(".showcase__grid img")).to_have_count(2)
    screenshot(page, "home")
    page.goto(f"/v/{item.pk}/")
    screenshot(page, "share")

    sign_in(page, user)
    for kind in ("image_to_video", "text_to_video", "storyboard"):
        page.goto(f"/create/?kind={kind}")
        expect(page.locator(f"#panel-{kind}")).to_be_visible()
        expect(page.locator(f"#panel-{kind} [data-generate]")).to_contain_text(
            "procedural engine (CPU)"
        )
        screenshot(page, f"create-{kind.replace('_', '-')}")
    for path, name in [
        ("/jobs/", "jobs"),
        (f"/jobs/{queued.pk}/", "job-page-queued"),
        (f"/jobs/{running.pk}/", "job-page-running"),
        (f"/jobs/{item.generation.pk}/", "job-page-finished"),
        (f"/jobs/{board.pk}/", "storyboard-job-page-queued"),
        ("/gallery/", "gallery"),
        ("/explore/", "explore"),
        ("/personas/", "personas"),
        (f"/personas/{persona.pk}/", "persona-detail"),
        ("/personas/new/", "persona-form"),
        ("/credits/", "credits"),
        ("/credits/success/?session_id=cs_test_pages_look", "credits-success"),
        ("/credits/cancel/", "credits-cancel"),
        ("/account/settings/", "account-settings"),
        ("/accounts/password/change/", "password-change"),
        ("/accounts/email/", "email-addresses"),
    ]:
        response = page.goto(path)
        assert response.ok, (path, response.status)
        screenshot(page, name)


def test_the_menu_button_folds_the_navigation_on_a_phone(page):
    user = UserFactory()
    sign_in(page, user)
    page.set_viewport_size(PHONE)
    page.goto("/explore/")
    nav = page.get_by_role("navigation", name="Main")
    toggle = nav.get_by_role("button", name="Menu")
    links = page.locator("#nav-links")

    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-controls", "nav-links")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(links).to_be_hidden()
    # One row: the brand and the button side by side.
    brand_box = nav.locator(".brand").bounding_box()
    toggle_box = toggle.bounding_box()
    assert (
        abs(brand_box["y"] + brand_box["height"] / 2 - toggle_box["y"] - toggle_box["height"] / 2)
        < 12
    )
    assert page.locator(".site-header").bounding_box()["height"] < 80

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="My videos")).to_be_visible()
    screenshot(page, "nav-open")
    page.set_viewport_size(PHONE)
    page.keyboard.press("Escape")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(links).to_be_hidden()
    expect(toggle).to_be_focused()

    # Keyboard only: Enter opens, Tab reaches the first link, which navigates.
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Explore")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/create/$"))

    # A wide screen has no menu button and shows every link.
    page.set_viewport_size(VIEWPORTS[0])
    expect(toggle).to_be_hidden()
    expect(nav.get_by_role("link", name="My videos")).to_be_visible()


def test_without_javascript_the_links_show_and_the_button_stays_hidden(browser, live_web):
    context = browser.new_context(base_url=live_web, viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        nav = page.get_by_role("navigation", name="Main")
        expect(nav.get_by_role("button", name="Menu")).to_be_hidden()
        expect(nav.get_by_role("link", name="Sign in")).to_be_visible()
        assert (
            page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            <= 0
        )
    finally:
        context.close()


def test_the_self_hosted_fonts_load_and_are_used(page):
    font_responses = []
    page.on(
        "response",
        lambda response: (
            font_responses.append((response.url, response.status))
            if response.url.endswith(".woff2")
            else None
        ),
    )
    page.goto("/")
    page.evaluate("document.fonts.ready")
    page.wait_for_function(
        """() => document.fonts.check('700 16px Orbitron') &&
                 document.fonts.check('400 16px "Roboto Mono"')"""
    )
    loaded = page.evaluate(
        """() => [...document.fonts].filter(f => f.status === "loaded")
                 .map(f => f.family.replace(/"/g, "") + " " + f.weight)"""
    )
    assert "Orbitron 700" in loaded and "Roboto Mono 400" in loaded, loaded
    assert font_responses and all(status == 200 for _, status in font_responses), font_responses
    assert all(url.startswith(page.url.rstrip("/")) for url, _ in font_responses), font_responses
    for name in FONTS:
        response = page.request.get(f"/static/fonts/{name}")
        assert response.status == 200, name
        assert response.body()[:4] == b"wOF2", name


def test_the_hero_plays_the_sample_clip_over_its_poster_without_moving_the_page(page):
    page.set_viewport_size(PHONE)
    page.goto("/")
    clip = page.locator("video[data-hero-clip]")
    expect(clip).to_have_attribute("poster", re.compile(r"/static/media-sample/.+\.jpg$"))
    expect(page.locator(".hero__caption")).to_have_text("Made here by the procedural engine")
    box = clip.bounding_box()
    assert abs(box["width"] / box["height"] - 576 / 320) < 0.02, box  # the clip's shape, reserved

    # Muted, looping, inline, its controls hidden once it plays by itself.
    page.wait_for_function(
        """() => { const v = document.querySelector("video[data-hero-clip]");
                   return !v.paused && v.currentTime > 0.2; }"""
    )
    state = clip.evaluate("v => [v.muted, v.loop, v.playsInline, v.controls, v.videoWidth]")
    assert state == [True, True, True, False, 576], state
    assert clip.bounding_box() == box  # the loaded clip takes the box the poster held
    assert (
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        <= 0
    )
    page.set_viewport_size(VIEWPORTS[0])
    wide = clip.bounding_box()
    hero = page.locator(".hero").bounding_box()
    assert wide["x"] > hero["x"] + hero["width"] / 2, (wide, hero)  # beside the copy, on the right


def test_the_hero_clip_waits_for_a_click_when_reduced_motion_is_asked_for(browser, live_web):
    context = browser.new_context(base_url=live_web, viewport=PHONE, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto("/")
        clip = page.locator("video[data-hero-clip]")
        page.wait_for_load_state("load")
        page.wait_for_timeout(500)
        assert clip.evaluate("v => [v.paused, v.controls, v.autoplay]") == [True, True, False]
    finally:
        context.close()
