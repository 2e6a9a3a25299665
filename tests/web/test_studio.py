"""The studio pages, server side: the create page's price button, persona picker, seed and
advanced inputs, "reuse settings"; the jobs list's chips, retry and "cancel all pending"; the
job page's extras; account settings with the API token; the landing's showcase and pricing."""

import re

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.billing.models import CreditPack, LedgerEntry
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_adjust
from apps.generation import services
from apps.generation.models import Generation
from apps.personas.models import Persona
from tests.content.conftest import make_item
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db

TITLE_RE = re.compile(r"<title>(.*?)</title>", re.S)


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def text_job(user, **params) -> Generation:
    return services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="a neon koi in the rain",
        negative_prompt="blurry",
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8, **params},
    ).generation


def image_job(user) -> Generation:
    return services.generation_create(
        user=user,
        kind="image_to_video",
        image=upload(png_bytes(), name="photo.png"),
        params={"num_frames": 6, "fps": 6, "width": 320, "height": 192, "motion_strength": 0.8},
    ).generation


def meta(html: str, attr: str, name: str) -> str | None:
    match = re.search(rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', html)
    return match.group(1) if match else None


# --- create -------------------------------------------------------------------------------------


def test_create_page_button_says_the_price_and_the_engine(signed_in):
    html = signed_in.get("/create/").content.decode()

    buttons = re.findall(r"<button type=\"submit\"[^>]*data-generate[^>]*>(.*?)</button>", html)
    assert len(buttons) == 3  # Image → Video, Text → Video, Storyboard
    for label in buttons[:2]:
        assert re.fullmatch(
            r"Generate · <span data-quote-value>1</span> credit · "
            r"<span data-engine-label>procedural engine \(CPU\)</span>",
            label,
        )
    assert re.fullmatch(
        r"Generate · <span data-quote-value>\d+</span> credits? · "
        r"<span data-engine-label>procedural engine \(CPU\)</span>",
        buttons[2],
    )
    assert html.count("You have 50 credits.") == 3
    assert "data-generate disabled" not in html
    assert html.count('role="tab"') == 3


def test_create_page_has_seed_dice_lock_advanced_and_aspect(signed_in):
    html = signed_in.get("/create/").content.decode()

    assert html.count("data-seed-dice") == 2 and html.count("data-seed-lock") == 2
    assert 'aria-label="Roll a random seed"' in html
    assert html.count("<summary>Advanced:") == 2
    assert 'name="negative_prompt"' in html
    assert html.count('name="num_inference_steps"') == 2
    assert 'name="guidance_scale"' in html and 'name="max_guidance_scale"' in html
    assert "16:9 · 1024 × 576" in html and "9:16 · 576 × 1024" in html
    assert html.count("data-duration") == 2
    # the drop zone wraps a real, labelled file input
    assert re.search(r'data-dropzone>.*?<input type="file" name="image"', html, re.S)
    assert '<label class="dropzone__title" for="image_to_video-image">' in html


def test_short_of_credits_the_button_is_disabled_and_links_to_buying(signed_in, user, staff_user):
    credits_adjust(user=user, amount=-50, note="test", created_by=staff_user, reference="t:zero")

    html = signed_in.get("/create/").content.decode()

    assert html.count("data-generate disabled") == 3  # every tab, the Storyboard too
    assert re.search(r'<a class="btn btn--ghost" href="/credits/" data-buy-credits>', html)
    assert "Not enough credits: this video costs 1, you have 0." in html


def test_persona_picker_lists_own_personas_and_the_query_preselects(signed_in, user, other_user):
    mine = Persona.objects.create(user=user, name="Captain Neon", defaults={"seed": 5})
    Persona.objects.create(user=other_user, name="Not mine")

    html = signed_in.get(f"/create/?persona={mine.pk}").content.decode()

    assert "Captain Neon" in html and "Not mine" not in html
    assert re.search(rf'<option value="{mine.pk}" selected>Captain Neon</option>', html)
    assert 'id="persona-meta"' in html


def test_a_persona_with_a_reference_image_makes_the_upload_optional(signed_in, user):
    persona = Persona.objects.create(user=user, name="Ref", reference_image="personas/x/ref.png")

    html = signed_in.get(f"/create/?persona={persona.pk}").content.decode()

    assert not re.search(r'<input type="file" name="image"[^>]*required', html)


def test_create_with_a_persona_sends_it_to_the_service(signed_in, user):
    persona = Persona.objects.create(user=user, name="Koi", style="ukiyo-e")

    response = signed_in.post(
        "/create/",
        {"kind": "text_to_video", "prompt": "a koi", "persona": str(persona.pk), "size": "320x192"},
    )

    assert response.status_code == 302
    generation = Generation.objects.get()
    assert generation.persona == persona
    assert "ukiyo-e" in generation.params["final_prompt"]


def test_reuse_settings_prefills_the_form_from_the_job(signed_in, user):
    job = text_job(user, seed=4242, num_inference_steps=7, guidance_scale=11.5)

    html = signed_in.get(f"/create/?reuse={job.pk}").content.decode()

    assert 'aria-selected="true"' in html.split('id="tab-text_to_video"')[1].split(">")[0]
    assert ">\na neon koi in the rain</textarea>" in html
    assert ">\nblurry</textarea>" in html
    assert re.search(r'name="seed" value="4242"', html)
    assert re.search(r'name="num_frames" value="8"', html)
    assert re.search(r'name="num_inference_steps" value="7"', html)
    assert re.search(r'name="guidance_scale" value="11.5"', html)
    assert re.search(r'<option value="320x192" selected>', html)
    assert "Settings reused from" in html


def test_reuse_of_another_users_job_is_ignored(signed_in, other_user):
    job = text_job(other_user)

    html = signed_in.get(f"/create/?reuse={job.pk}").content.decode()

    assert "a neon koi in the rain" not in html
    assert "Settings reused from" not in html


@pytest.mark.parametrize("query", ["reuse=not-a-uuid", "persona=nope", "reuse="])
def test_malformed_reuse_or_persona_ids_are_ignored(signed_in, query):
    response = signed_in.get(f"/create/?{query}")
    assert response.status_code == 200
    assert "Settings reused from" not in response.content.decode()


def test_reusing_an_image_job_reuses_its_picture_without_a_new_upload(signed_in, user):
    job = image_job(user)
    html = signed_in.get(f"/create/?reuse={job.pk}").content.decode()
    assert f'<input type="hidden" name="reuse" value="{job.pk}">' in html
    assert not re.search(r'<input type="file" name="image"[^>]*required', html)

    response = signed_in.post(
        "/create/",
        {"kind": "image_to_video", "reuse": str(job.pk), "size": "320x192", "num_frames": 6},
    )

    assert response.status_code == 302
    new = Generation.objects.exclude(pk=job.pk).get()
    assert new.input_image and new.kind == "image_to_video"
    assert response["Location"] == f"/jobs/{new.pk}/"


# --- jobs list ----------------------------------------------------------------------------------


def test_jobs_page_shows_chips_queue_place_percent_and_failure_reason(signed_in, user):
    failed = text_job(user)
    services.generation_mark_running(generation_id=failed.pk, worker="t")
    services.generation_mark_failed(generation_id=failed.pk, error="The GPU ran out of memory.")
    running = text_job(user)
    services.generation_mark_running(generation_id=running.pk, worker="t")
    Generation.objects.filter(pk=running.pk).update(progress=0.42)
    queued = text_job(user)

    html = signed_in.get("/jobs/").content.decode()
    cards = {
        g.pk: html.split(f'data-generation-id="{g.pk}"')[1].split("</li>")[0]
        for g in (failed, running, queued)
    }

    assert re.search(r'data-field="queue_position">1<', cards[queued.pk])
    assert 'data-status="running"' in html and ">42%</span>" in cards[running.pk]
    assert "The GPU ran out of memory." in cards[failed.pk]
    assert "Not charged" in cards[failed.pk]
    assert ">Retry</button>" in cards[failed.pk]
    # An unfinished job's Retry is sent hidden, for the page to show if the job fails live.
    assert re.search(r'data-show-when="failed canceled" hidden>', cards[queued.pk])
    assert not re.search(r'data-show-when="failed canceled" hidden>', cards[failed.pk])
    assert "data-cancel-form" in cards[queued.pk] and "data-cancel-form" in cards[running.pk]
    assert "data-cancel-form" not in cards[failed.pk]
    for generation in (failed, running, queued):
        assert f"/create/?reuse={generation.pk}" in cards[generation.pk]
    assert "Cancel all pending (1)" in html


def test_cancel_all_pending_cancels_queued_jobs_only_and_says_the_refund(signed_in, user):
    running = text_job(user)
    services.generation_mark_running(generation_id=running.pk, worker="t")
    first, second = text_job(user), text_job(user)
    spent = first.cost_credits + second.cost_credits

    response = signed_in.post("/jobs/cancel-pending/", follow=True)

    html = response.content.decode()
    assert f"Canceled 2 pending jobs: {spent} credit" in html
    for job in (first, second):
        job.refresh_from_db()
        assert job.status == Generation.Status.CANCELED
    running.refresh_from_db()
    assert running.status == Generation.Status.RUNNING and not running.cancel_requested
    assert credits_balance(user=user) == 50 - running.cost_credits
    assert "Cancel all pending" not in html


def test_cancel_all_pending_needs_post_csrf_and_touches_only_own_jobs(user, other_user):
    theirs = text_job(other_user)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.get("/jobs/cancel-pending/").status_code == 405
    assert client.post("/jobs/cancel-pending/").status_code == 403  # no CSRF token
    client = Client()
    client.force_login(user)
    client.post("/jobs/cancel-pending/")
    theirs.refresh_from_db()
    assert theirs.status == Generation.Status.QUEUED


def test_cancel_from_the_jobs_list_returns_to_the_list(signed_in, user):
    job = text_job(user)

    response = signed_in.post(f"/jobs/{job.pk}/cancel/", {"next": "/jobs/?page=1"})
    assert response["Location"] == "/jobs/?page=1"
    evil = signed_in.post(f"/jobs/{text_job(user).pk}/cancel/", {"next": "https://evil.example/"})
    assert evil["Location"].startswith("/jobs/")


def test_retry_starts_the_same_request_again_and_charges_it(signed_in, user):
    failed = text_job(user, seed=99)
    services.generation_mark_running(generation_id=failed.pk, worker="t")
    services.generation_mark_failed(generation_id=failed.pk, error="boom")

    response = signed_in.post(f"/jobs/{failed.pk}/retry/", {"idempotency_key": "retry-1"})

    again = Generation.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == f"/jobs/{again.pk}/"
    assert (again.prompt, again.negative_prompt, again.seed) == (failed.prompt, "blurry", 99)
    assert again.params["num_frames"] == 8 and again.status == Generation.Status.QUEUED
    assert credits_balance(user=user) == 50 - again.cost_credits


def test_retry_of_an_image_job_reuses_the_picture(signed_in, user):
    job = image_job(user)
    services.generation_cancel(generation=job)

    signed_in.post(f"/jobs/{job.pk}/retry/")

    again = Generation.objects.exclude(pk=job.pk).get()
    assert again.input_image and again.params["motion_strength"] == 0.8


# --- job page ------------------------------------------------------------------------------------


def test_job_page_offers_copy_seed_reuse_and_title_progress(signed_in, user):
    job = text_job(user, seed=31337)

    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()

    assert 'data-copy="31337"' in html and ">Copy seed</button>" in html
    assert f'href="/create/?reuse={job.pk}">Reuse settings</a>' in html
    assert "data-title-progress" in html
    assert 'role="progressbar"' in html and 'role="status"' in html
    # Not finished: Retry and Extend are there for the live page to reveal, hidden until then.
    assert re.search(r'data-show-when="failed canceled" hidden>', html)
    assert re.search(r'data-extend-form data-show-when="succeeded" hidden>', html)


def test_failed_job_page_shows_the_reason_and_offers_retry(signed_in, user):
    job = text_job(user)
    services.generation_mark_running(generation_id=job.pk, worker="t")
    services.generation_mark_failed(generation_id=job.pk, error="Worker lost.")

    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()

    assert "Worker lost." in html and ">Retry</button>" in html
    kinds = LedgerEntry.objects.filter(account__user=user).values_list("kind", flat=True)
    assert sorted(kinds) == ["grant", "refund", "spend"]
    assert credits_balance(user=user) == 50


# --- account settings ----------------------------------------------------------------------------


def test_settings_page_needs_sign_in(client):
    response = client.get("/account/settings/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_settings_page_creates_shows_and_regenerates_the_api_token(signed_in, user):
    html = signed_in.get("/account/settings/").content.decode()
    assert "Create an API token" in html
    assert 'href="/account/settings/"' in html  # linked from the nav

    signed_in.post("/account/settings/token/")
    first = Token.objects.get(user=user).key
    response = signed_in.get("/account/settings/")
    assert f'value="{first}"' in response.content.decode()
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]

    response = signed_in.post("/account/settings/token/", follow=True)
    second = Token.objects.get(user=user).key
    assert second != first
    assert "the old one no longer works" in response.content.decode()
    api = Client(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.get("/api/v1/me/").json()["username"] == user.username
    assert Client(HTTP_AUTHORIZATION=f"Token {first}").get("/api/v1/me/").status_code == 401


# --- landing and public pages --------------------------------------------------------------------


def test_landing_shows_a_lazy_poster_showcase_pricing_and_sign_up(client, user):
    item = make_item(user, visibility="public", status="approved", prompt="neon harbour")
    make_item(user, visibility="private", status="approved", prompt="secret thing")
    CreditPack.objects.update(active=False)
    CreditPack.objects.create(name="Starter", credits=100, price_cents=500, currency="usd")

    html = client.get("/").content.decode()

    assert re.search(
        rf'<img src="/media/content/{item.pk}/thumbnail" alt="Poster frame of “neon harbour”" '
        r'loading="lazy"',
        html,
    )
    assert "secret thing" not in html
    # The showcase shows posters, never users' videos (the hero's one clip is a static file).
    showcase = html[html.index('<section class="showcase"') :]
    assert "<video" not in showcase and "/video" not in showcase.replace("/videos", "")
    assert "Starter" in html and "5.00 USD" in html and "100</strong> credits" in html
    assert 'href="/accounts/signup/"' in html
    assert meta(html, "property", "og:image").endswith(f"/media/content/{item.pk}/thumbnail")


def test_public_pages_have_unique_titles_descriptions_and_og_tags(client, user):
    item = make_item(user, visibility="public", status="approved", prompt="a shared koi")
    pages = ["/", "/explore/", "/accounts/login/", "/accounts/signup/", f"/v/{item.pk}/"]
    seen = {}
    for page in pages:
        html = client.get(page).content.decode()
        title = TITLE_RE.search(html).group(1).strip()
        assert meta(html, "name", "description"), page
        for tag in ("og:title", "og:description", "og:type", "og:url"):
            assert meta(html, "property", tag), (page, tag)
        assert meta(html, "name", "twitter:card"), page
        seen[title] = page
    assert len(seen) == len(pages), seen
