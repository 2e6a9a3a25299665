"""The storyboard editor and a storyboard's job page in a real headless Chromium, against the
real daphne server and (for the run) a real Celery worker over Redis: scenes added, reordered by
the Move buttons with focus following the card, the order kept over a reload; the total duration
by the documented overlap rule and the price from the quote endpoint; a bad draft answered with
the API's message and nothing written; a small draft storyboard run to the end with per-scene
chips updating live, the stitched video playing with its subtitles track; then "Extend", which
opens Image → Video with the video's last frame as its picture.

Screenshots go to test-artifacts/screenshots/ at 1440 and 375 px wide (CI keeps them).
"""

import json
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from apps.billing.selectors import credits_balance
from apps.generation.models import Generation
from tests import processes
from tests.e2e.browser import VIEWPORTS, open_page, screenshot
from tests.factories import UserFactory
from workers.storyboard import plan_timeline

PASSWORD = "pass-word-123"  # tests.factories.UserFactory's


pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_web):
    with open_page(browser, live_web) as page:
        yield page


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))


def open_editor(page):
    page.goto("/create/?kind=storyboard")
    form = page.locator("[data-storyboard-form]")
    expect(form).to_have_attribute("data-ready", "")
    return form


def prompts(form) -> list[str]:
    return form.locator("[data-scene] [data-scene-prompt]").evaluate_all(
        "nodes => nodes.map(n => n.value)"
    )


def wait_for_price(page, form) -> int:
    page.wait_for_function(
        """() => {
            const f = document.querySelector("[data-storyboard-form]");
            return f.getAttribute("data-quote-state") === "ready";
        }"""
    )
    credits = form.locator("[data-generate]").get_attribute("data-credits")
    return int(credits) if credits is not None else None


def api_quote(page, scenes) -> int:
    response = page.request.get(
        "/api/v1/generations/quote/?kind=storyboard&chain=false&scenes=" + quote(json.dumps(scenes))
    )
    assert response.ok, response.text()
    return response.json()["credits"]


def test_scenes_reorder_by_buttons_keep_their_order_over_a_reload_and_price_by_the_quote(page):
    user = UserFactory()
    sign_in(page, user)
    form = open_editor(page)
    expect(page.get_by_role("tab", name="Storyboard")).to_have_attribute("aria-selected", "true")

    # A bad draft (a scene with neither prompt nor picture): the API's message, nothing written.
    form.get_by_role("button", name=re.compile(r"^Generate")).click()
    expect(page.locator("[data-storyboard-error]")).to_have_text(
        "scenes[0]: give a prompt or an image."
    )
    assert not Generation.objects.exists()
    assert credits_balance(user=user) == 50
    form = page.locator("[data-storyboard-form]")
    expect(form).to_have_attribute("data-ready", "")

    form.locator("[data-scene-prompt]").first.fill("alpha: neon rain")
    form.get_by_role("button", name="+ Add scene").click()
    # Focus goes to the new card's prompt.
    focused = page.evaluate("document.activeElement.matches('[data-scene]:nth-child(2) textarea')")
    assert focused
    page.keyboard.type("beta: a lighthouse")
    form.get_by_role("button", name="+ Add scene").click()
    page.keyboard.type("gamma: a boat")
    form.locator("[data-scene]").nth(2).locator("[data-scene-duration]").fill("4")
    form.locator("[data-scene]").nth(0).locator("[data-scene-transition]").select_option("cut")
    assert prompts(form) == ["alpha: neon rain", "beta: a lighthouse", "gamma: a boat"]

    # Move scene 3 up with a click, then on with the keyboard: focus follows the card.
    form.get_by_role("button", name="Move scene 3 up").click()
    assert prompts(form) == ["alpha: neon rain", "gamma: a boat", "beta: a lighthouse"]
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Move scene 2 up"
    page.keyboard.press("Enter")
    assert prompts(form) == ["gamma: a boat", "alpha: neon rain", "beta: a lighthouse"]
    # At the top "Move up" is disabled: focus moves to the card's "Move down".
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Move scene 1 down"
    expect(form.get_by_role("button", name="Move scene 1 up")).to_be_disabled()
    expect(page.locator("[data-scene-announce]")).to_have_text("Scene moved to position 1 of 3.")

    # Total: the scenes minus each non-cut transition's overlap (standard preset, 30 fps).
    # gamma (4 s) → alpha: crossfade (the default); alpha → beta: cut (alpha's own choice).
    timeline = plan_timeline(
        durations=[4, 3, 3], transitions=["crossfade", "cut"], transition_duration=0.5, fps=30
    )
    seconds = timeline.num_frames / 30
    total = form.locator("[data-storyboard-total]")
    expect(total).to_have_attribute("data-seconds", str(seconds).rstrip("0").rstrip("."))
    expect(total).to_contain_text(f"Total {seconds:g} s · 3 scenes (10 s)")

    # The price is the quote endpoint's for the same scenes.
    scenes = [
        {"prompt": "gamma: a boat", "duration": 4},
        {"prompt": "alpha: neon rain", "duration": 3},
        {"prompt": "beta: a lighthouse", "duration": 3},
    ]
    credits = wait_for_price(page, form)
    assert credits == api_quote(page, scenes)
    expect(form.locator("[data-generate]")).to_have_text(
        f"Generate · {credits} credit{'s' if credits != 1 else ''} · procedural engine (CPU)"
    )
    screenshot(page, "storyboard-editor")

    # Reload: the draft, its order and its settings are back.
    page.reload()
    form = open_editor(page)
    assert prompts(form) == ["gamma: a boat", "alpha: neon rain", "beta: a lighthouse"]
    durations = form.locator("[data-scene-duration]").evaluate_all("n => n.map(x => x.value)")
    assert durations == ["4", "3", "3"]
    assert form.locator("[data-scene]").nth(1).locator("[data-scene-transition]").input_value() == (
        "cut"
    )
    assert wait_for_price(page, form) == credits

    # Drag the last card's handle onto the first: the order changes and is saved too.
    page.set_viewport_size({"width": 1440, "height": 2000})  # both cards on screen at once
    form.locator("[data-scene-list]").scroll_into_view_if_needed()
    handle = form.locator("[data-scene]").nth(2).locator("[data-scene-handle]")
    box = handle.bounding_box()
    first = form.locator("[data-scene]").nth(0).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 5, box["y"] - 20, steps=5)
    page.mouse.move(first["x"] + 60, first["y"] + 8, steps=10)
    page.mouse.up()
    page.set_viewport_size(VIEWPORTS[0])
    assert prompts(form) == ["beta: a lighthouse", "gamma: a boat", "alpha: neon rain"]
    page.reload()
    form = open_editor(page)
    assert prompts(form) == ["beta: a lighthouse", "gamma: a boat", "alpha: neon rain"]

    # Story mode is the other way in; delete and duplicate keep the numbering.
    form.get_by_role("button", name="Delete scene 1").click()
    form.get_by_role("button", name="Duplicate scene 1").click()
    assert prompts(form) == ["gamma: a boat", "gamma: a boat", "alpha: neon rain"]
    form.get_by_label("Split my story").check()
    expect(form.get_by_label("Your story")).to_be_visible()
    expect(form.locator("[data-scene-list]")).to_be_hidden()


def test_a_draft_storyboard_runs_with_live_scene_chips_then_extends(page):
    user = UserFactory()
    sign_in(page, user)
    form = open_editor(page)
    form.get_by_label("Quality").select_option("draft")
    form.locator("[data-scene-prompt]").first.fill("neon rain over a harbour")
    form.locator("[data-scene-duration]").first.fill("1.5")
    form.get_by_role("button", name="+ Add scene").click()
    page.keyboard.type("a lighthouse at night")
    form.locator("[data-scene-duration]").nth(1).fill("1.5")
    form.locator("summary", has_text="Narration").click()
    form.get_by_label("Narration text").fill("The rain falls. The light turns.")
    credits = wait_for_price(page, form)
    form.get_by_role("button", name=re.compile(r"^Generate")).click()

    # No worker yet: the job page shows every scene queued.
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    generation_id = page.url.rstrip("/").rsplit("/", 1)[1]
    chips = page.locator("[data-scene-chip]")
    expect(chips).to_have_count(2)
    expect(chips.nth(0)).to_have_text("Queued")
    assert credits_balance(user=user) == 50 - credits
    screenshot(page, "storyboard-job-queued")
    page.evaluate(
        """() => {
            window.__sameDocument = true;
            window.__chipStates = [];
            const record = () => window.__chipStates.push(
                [...document.querySelectorAll("[data-scene-chip]")].map(c => c.textContent).join(",")
            );
            new MutationObserver(record).observe(
                document.querySelector("[data-scenes]"),
                {subtree: true, childList: true, characterData: true}
            );
        }"""
    )

    with processes.celery_worker():
        player = page.locator('[data-slot="player"] video')
        expect(player).to_be_attached(timeout=120_000)
        expect(chips.nth(0)).to_have_text("Done")
        expect(chips.nth(1)).to_have_text("Done")
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    states = page.evaluate("window.__chipStates")
    assert states and states[-1] == "Done,Done", states
    # Each scene's own clip, and the stitched video with its subtitles.
    expect(page.locator("[data-scene-clip] video")).to_have_count(2)
    expect(player.locator('track[kind="subtitles"]')).to_have_attribute(
        "src", re.compile(f"/media/generations/{generation_id}/subtitles$")
    )
    page.evaluate(
        """async () => {
            const video = document.querySelector('[data-slot="player"] video');
            video.muted = true;
            await video.play();
        }"""
    )
    page.wait_for_function(
        """() => {
            const video = document.querySelector('[data-slot="player"] video');
            return video.currentTime > 0 && video.readyState >= 2;
        }""",
        timeout=30_000,
    )
    played = page.evaluate(
        """() => {
            const v = document.querySelector('[data-slot="player"] video');
            return [v.videoWidth, v.videoHeight, v.error && v.error.code];
        }"""
    )
    assert played == [854, 480, None]
    generation = Generation.objects.get(pk=generation_id)
    assert generation.status == "succeeded" and generation.subtitles

    # Extend: the last frame becomes the picture of a new Image → Video clip.
    page.reload()
    expect(page.get_by_role("button", name="Extend")).to_be_visible()
    screenshot(page, "storyboard-job-done")
    page.get_by_role("button", name="Extend").click()
    expect(page).to_have_url(re.compile(r"/create/\?kind=image_to_video&extend="))
    expect(page.get_by_role("tab", name="Image → Video")).to_have_attribute("aria-selected", "true")
    preview = page.locator("#panel-image_to_video [data-image-preview]")
    expect(preview).to_be_visible()
    expect(preview).to_have_js_property("complete", True)
    assert preview.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [854, 480]
    expect(page.locator("#panel-image_to_video [data-image-note]")).to_contain_text(
        "Extending a video"
    )
    assert page.locator("#image_to_video-image").evaluate("input => input.required") is False
    expect(page.locator("#panel-image_to_video [data-generate]")).to_be_enabled()
    screenshot(page, "create-extend")


def test_explore_and_gallery_filters_narrow_the_grid_and_keep_their_choices(page):
    from tests.e2e.test_studio import public_video

    user = UserFactory()
    koi = public_video(user, "a neon koi", (200, 40, 180))
    story = public_video(user, "a harbour story", (40, 200, 120))
    Generation.objects.filter(pk=story.generation_id).update(kind="storyboard")
    sign_in(page, user)
    filters = page.get_by_role("search", name="Filter videos")

    page.goto("/explore/")
    cards = page.locator("[data-content-id]")
    expect(cards).to_have_count(2)
    filters.get_by_label("Kind").select_option("storyboard")
    filters.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/explore/\?kind=storyboard&sort=newest$"))
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-content-id", str(story.pk))
    expect(filters.get_by_label("Kind")).to_have_value("storyboard")
    screenshot(page, "explore-filters")

    page.goto("/gallery/?sort=oldest")
    expect(cards).to_have_count(2)
    expect(cards.first).to_have_attribute("data-content-id", str(koi.pk))
    filters.get_by_label("Visibility").select_option("private")
    filters.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="No videos match these filters")).to_be_visible()
    expect(filters.get_by_label("Sort")).to_have_value("oldest")
    filters.get_by_role("link", name="Clear").click()
    expect(cards).to_have_count(2)
    screenshot(page, "gallery-filters")
