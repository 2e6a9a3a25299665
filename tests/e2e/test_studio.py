"""The studio in a real headless Chromium against the real daphne server (and, where a job must
really run, a real Celery worker over Redis): the price on the Generate button, keyboard-only
upload, "cancel all pending", a failed job's reason and refund, reduced motion, the public
pages' titles and OpenGraph tags, and a gallery whose first paint loads no video bytes.

Screenshots go to test-artifacts/screenshots/ at 1440 and 375 px wide (CI keeps them).
"""

import io
import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image
from playwright.sync_api import expect

from apps.billing.models import CreditPack, LedgerEntry
from apps.billing.selectors import credits_balance
from apps.content.models import ContentItem
from apps.generation import services
from apps.generation.models import Generation
from apps.personas.models import Persona
from tests import processes
from tests.e2e.browser import open_page, screenshot
from tests.factories import UserFactory
from tests.images import png_bytes, upload

PASSWORD = "pass-word-123"  # tests.factories.UserFactory's


pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, live_web):
    with open_page(browser, live_web) as page:
        yield page


@pytest.fixture
def priced_page(browser, transactional_db):
    """A server that prices by work: diffusion engines named (never loaded: nothing is run)."""
    with (
        processes.web_server(
            SVD_MODEL="example/svd-not-loaded", ZEROSCOPE_MODEL="example/zeroscope-not-loaded"
        ) as base,
        open_page(browser, base) as page,
    ):
        yield page


def sign_in(page, user) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=login]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").filter(has=page.locator("input[name=password]")).locator(
        "button[type=submit]"
    ).click()
    expect(page).not_to_have_url(re.compile("/accounts/login/"))


def text_job(user, **params) -> Generation:
    return services.generation_create(
        user=user,
        kind="text_to_video",
        prompt=params.pop("prompt", "a neon koi in the rain"),
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8, **params},
    ).generation


def jpeg_bytes(color=(200, 40, 180)) -> bytes:
    image = Image.new("RGB", (320, 192), color)
    for x in range(0, 320, 24):
        image.paste((40, 230, 255), (x, 0, x + 6, 192))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def public_video(user, title: str, color) -> ContentItem:
    """A finished, public and approved video with a real poster and (fake) video bytes."""
    generation = text_job(user, prompt=title)
    services.generation_mark_running(generation_id=generation.pk, worker="test")
    folder = Path(settings.MEDIA_ROOT) / "generations" / str(generation.pk)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "video.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64)
    (folder / "thumb.jpg").write_bytes(jpeg_bytes(color))
    services.generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=f"generations/{generation.pk}/video.mp4",
        thumbnail_name=f"generations/{generation.pk}/thumb.jpg",
        width=320,
        height=192,
        fps=8,
        num_frames=8,
        duration_seconds=1.0,
        engine="procedural",
        notes=[],
    )
    item = ContentItem.objects.get(generation=generation)
    ContentItem.objects.filter(pk=item.pk).update(
        visibility="public", moderation_status="approved", title=title
    )
    return item


def generate_button(page, kind: str):
    return page.locator(f"#panel-{kind} [data-generate]")


def quote(page, kind: str, **params) -> int:
    query = "&".join(f"{k}={v}" for k, v in {"kind": kind, **params}.items())
    response = page.request.get(f"/api/v1/generations/quote/?{query}")
    assert response.ok, response.text()
    return response.json()["credits"]


def label(credits: int, engine: str = "Zeroscope (GPU)") -> str:
    """The Generate button before the click: the price and the engine that will run."""
    return f"Generate · {credits} credit{'s' if credits != 1 else ''} · {engine}"


# --- create ------------------------------------------------------------------------------------


def test_the_price_label_follows_the_settings_and_equals_the_quote(priced_page):
    page = priced_page
    user = UserFactory()
    sign_in(page, user)
    page.goto("/create/?kind=text_to_video")
    button = generate_button(page, "text_to_video")

    expected = quote(page, "text_to_video")
    expect(button).to_have_text(label(expected))
    assert expected == 4  # Zeroscope's reference job

    page.locator("#text_to_video-num_frames").fill("48")
    expected = quote(page, "text_to_video", num_frames=48, width=576, height=320)
    expect(button).to_have_text(label(expected))
    assert expected == 8

    page.locator("#text_to_video-size").select_option("1024x576")
    expected = quote(page, "text_to_video", num_frames=48, width=1024, height=576)
    expect(button).to_have_text(label(expected))
    expect(button).to_be_enabled()
    page.get_by_text("Advanced: negative prompt, steps, guidance").click()
    page.locator("#text_to_video-num_inference_steps").fill("40")
    expected = quote(
        page, "text_to_video", num_frames=48, width=1024, height=576, num_inference_steps=40
    )
    assert expected > 50
    expect(button).to_have_text(label(expected))

    # Short of credits: disabled, and a link to buy more.
    expect(button).to_be_disabled()
    buy = page.locator("#panel-text_to_video").get_by_role("link", name="Buy credits")
    expect(buy).to_be_visible()
    expect(buy).to_have_attribute("href", "/credits/")
    expect(page.locator("#panel-text_to_video [data-quote]")).to_contain_text(
        f"Not enough credits: this video costs {expected}, you have 50."
    )
    screenshot(page, "create-short")

    page.locator("#text_to_video-num_inference_steps").fill("")
    page.locator("#text_to_video-num_frames").fill("24")
    page.locator("#text_to_video-size").select_option("576x320")
    expect(button).to_have_text(label(4))
    expect(button).to_be_enabled()
    expect(buy).to_be_hidden()

    # A persona's defaults fill what the form leaves unset, in the price as in the charge.
    persona = Persona.objects.create(user=user, name="Long takes", defaults={"num_frames": 48})
    page.goto(f"/create/?kind=text_to_video&persona={persona.pk}")
    expect(page.locator("#text_to_video-persona")).to_have_value(str(persona.pk))
    expect(button).to_have_text(label(quote(page, "text_to_video", num_frames=48)))
    page.locator("#text_to_video-persona").select_option("")
    expect(button).to_have_text(label(4))
    screenshot(page, "create-persona")

    # The image tab prices SVD: motion does not change it, frames do.
    page.get_by_role("tab", name="Image → Video").click()
    image_button = generate_button(page, "image_to_video")
    svd = "Stable Video Diffusion (GPU)"
    expect(image_button).to_have_text(label(quote(page, "image_to_video"), svd))
    page.locator("#image_to_video-num_frames").fill("14")
    expect(image_button).to_have_text(
        label(quote(page, "image_to_video", num_frames=14, width=1024, height=576), svd)
    )

    # The engine on the button is the quote's: a quote naming another engine relabels it.
    page.route(
        "**/api/v1/generations/quote/**",
        lambda route: route.fulfill(json={"credits": 3, "engine": "procedural"}),
    )
    page.locator("#image_to_video-num_frames").fill("16")
    expect(image_button).to_have_text(label(3, "procedural engine (CPU)"))
    expect(image_button).to_have_attribute("data-engine", "procedural")
    page.unroute("**/api/v1/generations/quote/**")


def test_seed_dice_lock_and_the_prompt_counter(page):
    user = UserFactory()
    sign_in(page, user)
    page.goto("/create/?kind=text_to_video")
    panel = page.locator("#panel-text_to_video")
    seed = panel.locator("#text_to_video-seed")
    expect(seed).to_have_value("")

    panel.get_by_role("button", name="Roll a random seed").click()
    rolled = seed.input_value()
    assert rolled.isdigit() and 0 <= int(rolled) < 2**32
    panel.get_by_label("Lock").check()
    page.locator("#text_to_video-prompt").fill("neon koi")
    expect(panel.locator("[data-counter-for]")).to_contain_text("8 / 2000")
    expect(panel.locator("[data-duration]")).to_contain_text("Duration ≈ 3.0 s")
    screenshot(page, "create-text")

    page.reload()
    expect(seed).to_have_value(rolled)  # locked: kept for the next video
    panel.get_by_label("Lock").uncheck()
    page.reload()
    expect(seed).to_have_value("")


def test_keyboard_only_upload_starts_an_image_video(page, tmp_path):
    user = UserFactory()
    sign_in(page, user)
    page.goto("/create/")
    picture = tmp_path / "harbour.png"
    picture.write_bytes(png_bytes(320, 192))

    # Intercept the file dialog before anything opens it: registering at the key press races
    # with Chromium, which then shows (in headless: drops) its own dialog.
    choosers = []
    page.on("filechooser", lambda chooser: (choosers.append(chooser), chooser.set_files(picture)))

    page.get_by_role("tab", name="Image → Video").focus()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "file":
            break
    else:
        pytest.fail("the image input is not reachable with Tab")
    file_input = page.locator("#image_to_video-image")
    expect(file_input).to_be_focused()
    # The focused input lights its drop zone up (after the border's colour transition).
    page.wait_for_function(
        """() => getComputedStyle(document.querySelector('[data-dropzone]')).borderColor
            !== getComputedStyle(document.querySelector('.panel')).borderColor"""
    )
    page.keyboard.press("Space")
    expect(page.locator("[data-image-preview]")).to_be_visible()
    assert len(choosers) == 1
    expect(page.locator("[data-image-note]")).to_have_text("Chosen: harbour.png")
    screenshot(page, "create-image")

    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.hasAttribute('data-generate')"):
            break
    else:
        pytest.fail("the Generate button is not reachable with Tab")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}/$"))
    generation = Generation.objects.get(pk=page.url.rstrip("/").rsplit("/", 1)[1])
    assert generation.kind == "image_to_video" and generation.input_image
    assert generation.user == user


# --- jobs ----------------------------------------------------------------------------------------


def test_cancel_all_pending_leaves_the_running_job_alone_and_shows_the_refund(page):
    user = UserFactory()
    running = text_job(user, prompt="already rendering")
    services.generation_mark_running(generation_id=running.pk, worker="test")
    waiting = [text_job(user, prompt=f"waiting {n}") for n in (1, 2)]
    refund = sum(g.cost_credits for g in waiting)
    sign_in(page, user)

    page.goto("/jobs/")
    card = page.locator(f'[data-generation-id="{running.pk}"]')
    expect(card.locator('[data-field="status"]')).to_have_text("Running")
    for position, job in enumerate(waiting, start=1):
        expect(page.locator(f'[data-generation-id="{job.pk}"] [data-field="queue"]')).to_have_text(
            re.compile(rf"#{position}\b")
        )
    screenshot(page, "jobs-pending")

    page.get_by_role("button", name="Cancel all pending (2)").click()

    expect(page.get_by_role("status").filter(has_text="Canceled 2 pending jobs")).to_contain_text(
        f"{refund} credits refunded"
    )
    for job in waiting:
        chip = page.locator(f'[data-generation-id="{job.pk}"] [data-field="status"]')
        expect(chip).to_have_text("Canceled")
        job.refresh_from_db()
        assert job.status == Generation.Status.CANCELED
    expect(card.locator('[data-field="status"]')).to_have_text("Running")
    expect(card.get_by_role("button", name="Cancel")).to_be_visible()
    running.refresh_from_db()
    assert running.status == Generation.Status.RUNNING and not running.cancel_requested
    expect(page.locator("[data-credits] strong")).to_have_text(str(50 - running.cost_credits))
    expect(page.get_by_role("button", name=re.compile("Cancel all pending"))).to_have_count(0)
    screenshot(page, "jobs-after-cancel")


def test_a_failed_job_shows_its_reason_and_was_not_charged(page):
    """A real worker really fails the job: its input picture is gone when it starts."""
    user = UserFactory()
    generation = services.generation_create(
        user=user,
        kind="image_to_video",
        image=upload(png_bytes(), name="photo.png"),
        params={"num_frames": 4, "fps": 4, "width": 320, "height": 192},
    ).generation
    Path(generation.input_image.path).unlink()
    with processes.celery_worker():
        deadline = time.monotonic() + 90
        while Generation.objects.get(pk=generation.pk).status not in ("failed", "succeeded"):
            assert time.monotonic() < deadline, "the worker never finished the job"
            time.sleep(0.2)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED and generation.error

    sign_in(page, user)
    page.goto("/jobs/")
    card = page.locator(f'[data-generation-id="{generation.pk}"]')
    expect(card.locator('[data-field="status"]')).to_have_text("Failed")
    expect(card.locator('[data-field="error"]')).to_contain_text(generation.error)
    expect(card.locator('[data-field="error"]')).to_contain_text("Not charged")
    expect(card.get_by_role("button", name="Retry")).to_be_visible()
    expect(card.get_by_role("link", name="Reuse settings")).to_have_attribute(
        "href", f"/create/?reuse={generation.pk}"
    )

    card.get_by_role("link", name=re.compile("Image → Video")).click()
    expect(page.locator('[data-field="error"]')).to_contain_text(generation.error)
    expect(page.get_by_role("progressbar")).to_be_hidden()
    screenshot(page, "job-failed")

    assert credits_balance(user=user) == 50
    kinds = sorted(LedgerEntry.objects.filter(account__user=user).values_list("kind", flat=True))
    assert kinds == ["grant", "refund", "spend"]
    expect(page.locator("[data-credits] strong")).to_have_text("50")


def test_job_page_progress_goes_into_the_title_while_the_tab_is_hidden(page):
    user = UserFactory()
    job = text_job(user, prompt="title watcher")
    # The row says what the script paints below, so a live snapshot arriving later agrees.
    services.generation_mark_running(generation_id=job.pk, worker="test")
    Generation.objects.filter(pk=job.pk).update(progress=0.42, stage="generating")
    sign_in(page, user)
    page.goto(f"/jobs/{job.pk}/")
    title = page.title()

    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
            document.dispatchEvent(new Event("visibilitychange"));
            const el = document.querySelector("[data-generation-id]");
            window.AILounge.applyGeneration(el, {status: "running", progress: 0.42, stage: "generating"});
        }"""
    )
    expect(page).to_have_title(f"42% · {title}")
    bar = page.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "42")
    page.evaluate(
        """() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => false});
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    expect(page).to_have_title(title)
    page.get_by_role("button", name="Copy seed").click()
    expect(page.get_by_role("button", name=re.compile("Copied|Copy failed"))).to_be_visible()


# --- look ---------------------------------------------------------------------------------------


def test_reduced_motion_turns_animations_and_glow_off(page):
    user = UserFactory()
    running = text_job(user, prompt="pulsing")
    services.generation_mark_running(generation_id=running.pk, worker="test")
    sign_in(page, user)
    page.goto("/jobs/")
    chip = page.locator(f'[data-generation-id="{running.pk}"] .chip')
    primary = page.get_by_role("link", name="Create a video").first
    assert chip.evaluate("el => getComputedStyle(el).animationName") == "pulse"
    assert primary.evaluate("el => getComputedStyle(el).boxShadow") != "none"

    page.emulate_media(reduced_motion="reduce")

    assert chip.evaluate("el => getComputedStyle(el).animationName") == "none"
    assert primary.evaluate("el => getComputedStyle(el).boxShadow") == "none"
    assert primary.evaluate("el => getComputedStyle(el).transitionDuration") == "0s"
    page.goto(f"/jobs/{running.pk}/")
    fill = page.locator(".progress__fill")
    assert fill.evaluate("el => getComputedStyle(el).animationName") == "none"
    # focus stays visible without motion
    page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


def test_account_settings_shows_and_regenerates_the_api_token(page):
    user = UserFactory()
    sign_in(page, user)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Account").click()
    expect(page).to_have_title(re.compile("^Account settings"))
    page.get_by_role("button", name="Create an API token").click()
    token = page.get_by_label("Your token")
    expect(token).to_have_attribute("type", "password")
    # The token's own Show (the webhook secret below has one too).
    page.locator('button[aria-controls="api-token"]').click()
    expect(token).to_have_attribute("type", "text")
    first = token.input_value()
    assert len(first) == 40
    screenshot(page, "settings")
    page.get_by_role("button", name="Regenerate token").click()
    expect(page.get_by_role("status")).to_contain_text("the old one no longer works")
    assert page.get_by_label("Your token").input_value() != first


# --- public pages --------------------------------------------------------------------------------


def test_public_pages_carry_unique_titles_and_og_tags(page):
    item = public_video(UserFactory(), "A harbour in neon rain", (30, 60, 200))
    paths = ["/", "/explore/", "/accounts/login/", "/accounts/signup/", f"/v/{item.pk}/"]
    titles = {}
    for path in paths:
        page.goto(path)
        title = page.title()
        assert title and title not in titles, (path, title, titles)
        titles[title] = path
        for tag in ("og:title", "og:description", "og:type", "og:url", "og:site_name"):
            content = page.locator(f'meta[property="{tag}"]').get_attribute("content")
            assert content, (path, tag)
        assert page.locator('meta[name="description"]').get_attribute("content"), path
        assert page.locator('meta[name="twitter:card"]').get_attribute("content"), path
        assert page.locator("h1").count() == 1, path
    page.goto("/")
    og_image = page.locator('meta[property="og:image"]').get_attribute("content")
    assert og_image.endswith(f"/media/content/{item.pk}/thumbnail")


def test_gallery_first_paint_loads_no_video_bytes_and_video_supports_range(page):
    owner = UserFactory()
    CreditPack.objects.update(active=False)
    for n, (credits, cents) in enumerate([(100, 500), (300, 1200), (1000, 3500)]):
        CreditPack.objects.create(
            name=["Starter", "Creator", "Studio"][n], credits=credits, price_cents=cents
        )
    items = [
        public_video(owner, title, color)
        for title, color in [
            ("Neon koi at midnight", (200, 40, 180)),
            ("Rain over the harbour", (30, 90, 220)),
            ("Synthwave sunrise", (250, 120, 40)),
        ]
    ]
    video_requests = []

    def watch(response):
        kind = response.headers.get("content-type", "")
        if "/static/media-sample/" in response.url:
            return  # the landing hero's own sample clip (static, 344 KB), not a gallery video
        if kind.startswith("video/") or response.url.endswith("/video"):
            video_requests.append(response.url)

    page.on("response", watch)
    for path, name in (("/", "home-showcase"), ("/explore/", "explore")):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        images = page.locator(f'img[src="/media/content/{items[0].pk}/thumbnail"]')
        expect(images).to_have_attribute("loading", "lazy")
        expect(images).to_have_js_property("complete", True)
        assert images.evaluate("img => img.naturalWidth") == 320
        assert not video_requests, video_requests
        screenshot(page, name)
    assert page.locator("video").count() == 0
    page.goto("/")
    pricing = page.get_by_role("region", name="Pricing")
    expect(pricing.get_by_role("listitem")).to_have_count(3)
    expect(pricing).to_contain_text("12.00 USD")

    response = page.request.get(
        f"/media/content/{items[0].pk}/video", headers={"Range": "bytes=0-99"}
    )
    assert response.status == 206
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-range"].startswith("bytes 0-99/")
    assert len(response.body()) == 100
