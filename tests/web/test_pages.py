"""The server-rendered pages: access, the create form (same rules and service as the API), the
job pages, the layout's meta tags and the branded error pages."""

import re

import pytest
from django.test import Client, RequestFactory
from django.utils.html import escape

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_adjust
from apps.generation import services
from apps.generation.models import Generation
from apps.web.views import jobs as job_views
from apps.web.views import pages as page_views
from tests.factories import UserFactory
from tests.images import png_bytes, upload

pytestmark = pytest.mark.django_db

TITLE_RE = re.compile(r"<title>(.*?)</title>", re.S)


def title_of(response) -> str:
    return TITLE_RE.search(response.content.decode()).group(1).strip()


def meta(response, attr: str, name: str) -> str | None:
    match = re.search(
        rf'<meta {attr}="{re.escape(name)}" content="([^"]*)"', response.content.decode()
    )
    return match.group(1) if match else None


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


def ledger_kinds(user) -> list[str]:
    return sorted(LedgerEntry.objects.filter(account__user=user).values_list("kind", flat=True))


def create_text_job(user, **params) -> Generation:
    return services.generation_create(
        user=user,
        kind="text_to_video",
        prompt="a neon koi in the rain",
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8, **params},
    ).generation


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/create/", "/jobs/"])
def test_anonymous_visitor_is_sent_to_sign_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_anonymous_visitor_cannot_open_a_job_page(client, user):
    generation = create_text_job(user)

    response = client.get(f"/jobs/{generation.pk}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_another_users_job_page_is_a_404(client, user, other_user):
    generation = create_text_job(other_user)
    client.force_login(user)

    page = client.get(f"/jobs/{generation.pk}/")
    cancel = client.post(f"/jobs/{generation.pk}/cancel/")

    assert page.status_code == 404
    assert "Signal lost" in page.content.decode()  # the branded 404 page
    assert cancel.status_code == 404
    generation.refresh_from_db()
    assert generation.status == Generation.Status.QUEUED


# --- create -----------------------------------------------------------------------------------


def test_create_page_offers_both_kinds_with_the_inputs_the_api_takes(signed_in):
    response = signed_in.get("/create/")
    html = response.content.decode()

    assert response.status_code == 200
    assert 'role="tablist"' in html
    assert 'accept="image/jpeg,image/png,image/webp"' in html
    assert 'type="range"' in html and 'name="motion_strength"' in html
    assert re.search(r'<textarea name="prompt"[^>]*maxlength="2000"', html)
    # bounds come from the API's params serializers
    assert re.search(r'name="num_frames"[^>]*min="2" max="120"', html)
    assert re.search(
        r"Generate · <span data-quote-value>1</span> credit · "
        r"<span data-engine-label>procedural engine \(CPU\)</span></button>",
        html,
    )


def test_signed_in_user_creates_from_a_prompt_and_lands_on_the_job(signed_in, user):
    response = signed_in.post(
        "/create/",
        {
            "kind": "text_to_video",
            "prompt": "  neon rain over a quiet harbour  ",
            "num_frames": "8",
            "seed": "1234",
            "size": "320x192",
            "idempotency_key": "form-1",
        },
    )

    generation = Generation.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{generation.pk}/"
    assert generation.kind == "text_to_video"
    assert generation.status == Generation.Status.QUEUED
    assert generation.prompt == "neon rain over a quiet harbour"
    assert generation.seed == 1234
    assert (generation.params["num_frames"], generation.params["width"]) == (8, 320)
    assert generation.params["height"] == 192
    assert ledger_kinds(user) == ["grant", "spend"]
    assert credits_balance(user=user) == 50 - generation.cost_credits


def test_the_same_form_submitted_twice_creates_one_job_charged_once(signed_in, user):
    body = {"kind": "text_to_video", "prompt": "twice", "idempotency_key": "same-key"}

    first = signed_in.post("/create/", body)
    second = signed_in.post("/create/", body)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Generation.objects.filter(user=user).count() == 1
    assert ledger_kinds(user) == ["grant", "spend"]


def test_a_used_form_sent_again_with_other_inputs_asks_to_confirm(signed_in, user):
    signed_in.post("/create/", {"kind": "text_to_video", "prompt": "first", "idempotency_key": "k"})

    again = signed_in.post(
        "/create/", {"kind": "text_to_video", "prompt": "edited", "idempotency_key": "k"}
    )

    html = again.content.decode()
    assert again.status_code == 409
    assert "This form already started a video." in html
    assert 'name="idempotency_key" value="k' not in html  # a fresh key to submit with
    assert Generation.objects.filter(user=user).count() == 1


def test_signed_in_user_animates_an_uploaded_image(signed_in, user):
    response = signed_in.post(
        "/create/",
        {
            "kind": "image_to_video",
            "image": upload(png_bytes(), name="photo.png"),
            "motion_strength": "0.8",
            "num_frames": "12",
            "size": "320x192",
        },
    )

    generation = Generation.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{generation.pk}/"
    assert generation.kind == "image_to_video"
    assert generation.input_image.name.endswith(".png")
    assert generation.params["motion_strength"] == 0.8
    assert generation.params["num_frames"] == 12


def test_a_text_file_named_png_is_refused_and_nothing_is_created_or_charged(signed_in, user):
    response = signed_in.post(
        "/create/",
        {
            "kind": "image_to_video",
            "image": upload(b"just some text, not pixels\n" * 20, name="cat.png"),
        },
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'role="alert"' in html
    assert re.search(r'id="image_to_video-image_error"><li>The file is not a readable image', html)
    assert Generation.objects.count() == 0
    assert ledger_kinds(user) == ["grant"]
    assert credits_balance(user=user) == 50
    # the image tab stays open so the user can pick another file
    assert 'id="tab-image_to_video" href="?kind=image_to_video"' in html
    assert re.search(r'id="panel-image_to_video"[^>]*>', html).group(0).count("hidden") == 0


def test_image_kind_without_an_image_shows_the_apis_own_message(signed_in, api):
    from_api = api.post("/api/v1/generations/", {"kind": "image_to_video"}, format="multipart")

    response = signed_in.post("/create/", {"kind": "image_to_video"})

    assert from_api.status_code == response.status_code == 400
    assert escape(from_api.json()["image"][0]) in response.content.decode()
    assert Generation.objects.count() == 0


def test_an_empty_prompt_is_refused_with_the_apis_own_message(signed_in, api):
    body = {"kind": "text_to_video", "prompt": "   "}
    from_api = api.post("/api/v1/generations/", body, format="json")

    response = signed_in.post("/create/", body)

    html = response.content.decode()
    assert from_api.status_code == response.status_code == 400
    assert escape(from_api.json()["prompt"][0]) in html
    assert 'aria-invalid="true"' in html
    assert Generation.objects.count() == 0


def test_out_of_range_params_are_shown_beside_their_field(signed_in, user):
    response = signed_in.post(
        "/create/", {"kind": "text_to_video", "prompt": "too long", "num_frames": "500"}
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="text_to_video-num_frames_error"' in html
    assert "num_frames: Ensure this value is less than or equal to 120." in html
    assert Generation.objects.count() == 0
    assert ledger_kinds(user) == ["grant"]


def test_short_credits_re_render_the_form_and_charge_nothing(signed_in, user, staff_user):
    credits_adjust(user=user, amount=-50, note="test", created_by=staff_user, reference="t:zero")

    response = signed_in.post("/create/", {"kind": "text_to_video", "prompt": "no money"})

    assert response.status_code == 402
    assert "your balance is 0" in response.content.decode()
    assert Generation.objects.count() == 0
    assert credits_balance(user=user) == 0


# --- jobs -------------------------------------------------------------------------------------


def test_jobs_page_lists_own_generations_newest_first_and_paginates(signed_in, user, other_user):
    create_text_job(other_user)
    made = [create_text_job(user) for _ in range(job_views.JOBS_PER_PAGE + 1)]

    first = signed_in.get("/jobs/")
    second = signed_in.get("/jobs/?page=2")

    links = re.findall(r'href="/jobs/([0-9a-f-]{36})/"', first.content.decode())
    assert first.status_code == 200
    assert links == [str(g.pk) for g in reversed(made)][: job_views.JOBS_PER_PAGE]
    assert "chip--queued" in first.content.decode()
    assert re.findall(r'href="/jobs/([0-9a-f-]{36})/"', second.content.decode()) == [
        str(made[0].pk)
    ]


def test_active_job_page_has_progress_bar_queue_position_and_cancel(signed_in, user):
    generation = create_text_job(user)

    response = signed_in.get(f"/jobs/{generation.pk}/")
    html = response.content.decode()

    assert response.status_code == 200
    assert f'data-generation-id="{generation.pk}"' in html
    assert "data-generation-active" in html
    assert f'data-api-url="/api/v1/generations/{generation.pk}/"' in html
    assert 'role="progressbar"' in html and 'aria-valuenow="0"' in html
    assert re.search(r"Position in queue: <strong[^>]*>1</strong>", html)
    assert f'action="/jobs/{generation.pk}/cancel/"' in html
    assert 'role="status"' in html
    assert "<video" not in html


def test_cancel_from_the_job_page_cancels_and_refunds(signed_in, user):
    generation = create_text_job(user)

    response = signed_in.post(f"/jobs/{generation.pk}/cancel/", follow=True)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELED
    assert credits_balance(user=user) == 50
    assert "Canceled. Your credits were refunded." in response.content.decode()
    assert "data-cancel-form" not in response.content.decode()


def test_cancel_of_a_finished_job_explains_why_not(signed_in, user):
    generation = create_text_job(user)
    services.generation_cancel(generation=generation)

    response = signed_in.post(f"/jobs/{generation.pk}/cancel/", follow=True)

    assert "This generation has already canceled." in response.content.decode()


def test_succeeded_job_page_shows_player_download_and_recipe(signed_in, user):
    generation = create_text_job(user, seed=77)
    services.generation_mark_running(generation_id=generation.pk, worker="test")
    services.generation_mark_succeeded(
        generation_id=generation.pk,
        video_name=f"generations/{generation.pk}/video.mp4",
        thumbnail_name=f"generations/{generation.pk}/thumbnail.jpg",
        width=320,
        height=192,
        fps=8,
        num_frames=8,
        duration_seconds=1.0,
        engine="procedural",
        notes=[],
    )

    response = signed_in.get(f"/jobs/{generation.pk}/")
    html = response.content.decode()

    video = f"/media/generations/{generation.pk}/video"
    assert re.search(
        r'<video class="player__video" controls playsinline loop preload="metadata"\s+'
        rf'poster="/media/generations/{generation.pk}/thumbnail" src="{video}"',
        html,
    )
    assert f'href="{video}" download=' in html
    assert "data-generation-active" not in html
    assert "data-cancel-form" not in html
    assert re.search(
        r'<dt>Seed</dt><dd class="recipe__seed"><span data-field="seed">77</span>', html
    )
    assert "<dt>Size</dt><dd>320 × 192</dd>" in html
    assert "<dt>Frames</dt><dd>8</dd>" in html
    assert re.search(r"<dt>Engine</dt><dd[^>]*>procedural engine \(CPU\)</dd>", html)


# --- layout, meta, auth pages, errors ---------------------------------------------------------


def test_home_page_has_meta_tags_and_a_sign_up_call(client):
    response = client.get("/")
    html = response.content.decode()

    assert response.status_code == 200
    assert title_of(response) == "Turn images and prompts into short videos · AI Lounge"
    assert meta(response, "property", "og:title") == "Turn images and prompts into short videos"
    assert meta(response, "property", "og:type") == "website"
    assert meta(response, "property", "og:site_name") == "AI Lounge"
    assert meta(response, "property", "og:url") == "http://testserver/"
    assert meta(response, "property", "og:description")
    assert meta(response, "name", "description")
    assert meta(response, "name", "twitter:card") == "summary_large_image"
    assert 'name="viewport"' in html and '<meta charset="utf-8">' in html
    assert 'href="/accounts/signup/"' in html
    assert "https://" not in html  # no external resources


def test_home_page_for_a_signed_in_user_links_to_create_and_shows_credits(signed_in):
    html = signed_in.get("/").content.decode()

    assert 'href="/create/"' in html
    assert re.search(r"<strong>50</strong> credits", html)
    assert 'action="/accounts/logout/"' in html  # sign out is a POST form
    assert 'href="/api/docs/"' in html


def test_every_page_has_its_own_title(signed_in):
    anonymous = Client()
    public = [title_of(anonymous.get(p)) for p in ("/", "/accounts/login/", "/accounts/signup/")]
    private = [title_of(signed_in.get(p)) for p in ("/create/", "/jobs/")]

    titles = public + private
    assert len(set(titles)) == len(titles), titles


def test_sign_up_page_uses_the_site_layout_and_signs_the_user_in(client):
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "/static/css/app.css" in page.content.decode()
    assert 'name="username"' in page.content.decode()

    response = client.post(
        "/accounts/signup/",
        {
            "username": "newcomer",
            "email": "newcomer@example.com",
            "password1": "neon-lights-42",
            "password2": "neon-lights-42",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/create/"
    assert "<strong>50</strong> credits" in client.get("/create/").content.decode()


def test_sign_in_and_sign_out_pages_use_the_site_layout(client, user):
    login = client.get("/accounts/login/")
    assert "/static/css/app.css" in login.content.decode()
    assert 'name="login"' in login.content.decode()

    client.force_login(user)
    logout = client.get("/accounts/logout/")
    assert "Are you sure you want to sign out?" in logout.content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/create/").status_code == 302


def test_unknown_url_gets_the_branded_404(client):
    response = client.get("/no/such/page/")

    assert response.status_code == 404
    assert "Signal lost" in response.content.decode()
    assert "/static/css/app.css" in response.content.decode()


def test_server_error_page_renders_without_touching_the_database(django_assert_num_queries):
    request = RequestFactory().get("/")

    with django_assert_num_queries(0):
        response = page_views.server_error(request)

    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
    assert "/static/css/app.css" in response.content.decode()


def test_a_user_created_in_the_test_has_the_signup_grant():
    # guards the assumption the page tests make about the starting balance
    assert credits_balance(user=UserFactory()) == 50
