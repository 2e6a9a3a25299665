"""The studio's storyboard pages, server side: the Storyboard tab posts through the API's own
serializer and service (its errors shown on the page, nothing written), the job page's scene
list and "Retry scene", "Extend" (the last frame of a video prefills Image → Video; others get
a 404), and the filters of /explore/ and /gallery/ kept in the pager's links."""

import html as html_lib
import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from PIL import Image

from apps.billing.models import LedgerEntry
from apps.billing.selectors import credits_balance
from apps.billing.services import credits_adjust
from apps.content.models import ContentItem
from apps.generation.models import Generation, StoryboardScene
from apps.generation.storyboards import running as storyboards
from apps.personas.models import Persona
from tests.content.conftest import make_item
from tests.images import png_bytes, upload
from tests.workers.storyboard.media_files import write_clip

pytestmark = pytest.mark.django_db

SMALL = {"width": 128, "height": 96, "fps": 8, "num_frames": 8}


@pytest.fixture
def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def no_broker(monkeypatch):
    """Scenes are created but never sent to Celery."""
    sent = []
    monkeypatch.setattr(storyboards, "_scene_enqueue", lambda scene: sent.append(scene.pk))
    return sent


def scene(prompt="neon rain over a harbour", **extra):
    return {"prompt": prompt, "duration": 1.0, **extra}


def post_storyboard(client, scenes=None, **fields):
    data = {
        "kind": "storyboard",
        "quality": "draft",
        "transition": "crossfade",
        "transition_duration": "0.5",
        "source": "scenes",
        "scenes": json.dumps(scenes if scenes is not None else [scene(), scene("a fox at dawn")]),
        **fields,
    }
    return client.post("/create/", data)


def alert_text(response) -> str:
    match = re.search(r"data-storyboard-error><p>(.*?)</p>", response.content.decode(), re.S)
    return html_lib.unescape(match.group(1)) if match else ""


def api_detail(user, body: dict) -> str:
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(user)
    response = api.post("/api/v1/generations/", body, format="json")
    assert response.status_code >= 400
    return response.json()["detail"]


def drain(user) -> None:
    credits_adjust(
        user=user,
        amount=-credits_balance(user=user),
        note="test",
        created_by=None,
        reference="test:drain",
    )


# --- the Storyboard tab --------------------------------------------------------------------


def test_create_page_has_a_storyboard_tab_with_its_editor_and_price(signed_in):
    html = signed_in.get("/create/?kind=storyboard").content.decode()
    assert 'id="tab-storyboard"' in html and 'aria-selected="true"' in html
    panel = html[html.index('id="panel-storyboard"') :]
    assert "data-storyboard-form" in panel and "data-scene-template" in panel
    for label in ("Move up", "Move down", "Duplicate", "Delete", "Split my story"):
        assert label in panel
    # The starting draft (one 3 s scene) is priced by the quote's own function.
    quote = signed_in.get(
        "/api/v1/generations/quote/",
        {"kind": "storyboard", "scenes": json.dumps([{"prompt": "x", "duration": 3}])},
    ).json()["credits"]
    assert re.search(rf"Generate · <span data-quote-value>{quote}</span> credits?", panel)
    assert 'src="/static/js/storyboard.js"' in html or "js/storyboard" in html


def test_a_storyboard_posts_and_charges_what_the_quote_said(signed_in, user, no_broker):
    scenes = [scene(transition="wipe"), scene("a fox at dawn", duration=2.0)]
    quote = signed_in.get(
        "/api/v1/generations/quote/", {"kind": "storyboard", "scenes": json.dumps(scenes)}
    ).json()["credits"]
    before = credits_balance(user=user)
    response = post_storyboard(signed_in, scenes, prompt="Harbour", narration_text="Rain falls.")
    generation = Generation.objects.get(user=user)
    assert response.status_code == 302 and response.url == f"/jobs/{generation.pk}/"
    assert generation.kind == "storyboard" and generation.prompt == "Harbour"
    assert generation.cost_credits == quote == before - credits_balance(user=user)
    assert [s.transition for s in generation.scenes.order_by("index")][0] == "wipe"
    page = signed_in.get(response.url).content.decode()
    assert "Your storyboard is queued" in page
    assert page.count("data-scene-index=") == 2


def test_scene_pictures_travel_as_scene_image_files(signed_in, user):
    scenes = [scene(), {"prompt": "", "image": True, "duration": 1.0}]
    response = signed_in.post(
        "/create/",
        {
            "kind": "storyboard",
            "source": "scenes",
            "quality": "draft",
            "scenes": json.dumps(scenes),
            "scene_image_1": upload(png_bytes(), "still.png"),
        },
    )
    assert response.status_code == 302, alert_text(response)
    second = StoryboardScene.objects.get(generation__user=user, index=1)
    assert second.image


def test_a_story_is_split_into_scenes(signed_in, user):
    response = signed_in.post(
        "/create/",
        {
            "kind": "storyboard",
            "source": "story",
            "quality": "draft",
            "story": "The rain falls on the harbour. A lighthouse wakes. A boat comes home.",
            "scene_duration": "1",
            "scenes": "",
        },
    )
    assert response.status_code == 302, alert_text(response)
    generation = Generation.objects.get(user=user)
    assert generation.scenes.count() == 3
    assert generation.params.get("story_source") == "local"


@pytest.mark.parametrize(
    ("scenes", "fields"),
    [
        ([scene(transition="spin")], {}),
        ([{"prompt": "", "duration": 1.0}], {}),
        ([{"prompt": "x", "image": True, "duration": 1.0}], {}),
        ([scene(duration=99)], {}),
        ([scene() for _ in range(11)], {}),
        ([], {}),
        ([scene()], {"transition_duration": "9"}),
    ],
    ids=["transition", "empty-scene", "missing-picture", "duration", "too-many", "none", "td"],
)
def test_bad_storyboards_show_the_api_message_and_leave_nothing(signed_in, user, scenes, fields):
    before = credits_balance(user=user)
    entries = LedgerEntry.objects.count()
    response = post_storyboard(signed_in, scenes, **fields)
    assert response.status_code == 400
    shown = alert_text(response)
    body = {"kind": "storyboard", "quality": "draft", "transition": "crossfade", "scenes": scenes}
    body["transition_duration"] = float(fields.get("transition_duration", 0.5))
    assert shown and shown == api_detail(user, body)
    assert not Generation.objects.exists()
    assert not StoryboardScene.objects.exists()
    assert credits_balance(user=user) == before and LedgerEntry.objects.count() == entries
    # The page comes back on the Storyboard tab.
    assert re.search(
        r'id="tab-storyboard"[^>]*\n[^>]*\n[^>]*aria-selected="true"', response.content.decode()
    )


def test_short_credits_refuse_with_402_and_charge_nothing(signed_in, user):
    drain(user)
    response = post_storyboard(signed_in)
    assert response.status_code == 402
    assert "credit" in alert_text(response).lower()
    assert not Generation.objects.exists()


# --- the job page ---------------------------------------------------------------------------


def make_storyboard(client, user) -> Generation:
    response = post_storyboard(client, [scene(), scene("a fox at dawn"), scene("night")])
    assert response.status_code == 302, alert_text(response)
    return Generation.objects.get(user=user)


def test_job_page_lists_each_scene_with_its_chip(signed_in, user):
    generation = make_storyboard(signed_in, user)
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert html.count("data-scene-chip") == 3
    assert "Scene 3" in html and "a fox at dawn" in html
    assert "Retry scene" not in html  # nothing failed
    assert 'data-extend-form data-show-when="succeeded" hidden>' in html  # not finished


def fail(generation, index):
    StoryboardScene.objects.filter(generation=generation, index=index).update(
        status="failed", error="the engine ran out of memory"
    )
    StoryboardScene.objects.filter(generation=generation).exclude(index=index).update(
        status="succeeded"
    )
    Generation.objects.filter(pk=generation.pk).update(status="failed", error="scene 2 failed")


def test_a_failed_scene_has_a_retry_button_that_charges_that_scene(signed_in, user):
    generation = make_storyboard(signed_in, user)
    fail(generation, 1)
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert html.count("data-scene-retry") == 1
    assert "the engine ran out of memory" in html
    before = credits_balance(user=user)
    response = signed_in.post(f"/jobs/{generation.pk}/scenes/1/retry/", follow=True)
    charged = before - credits_balance(user=user)
    assert charged > 0
    assert f"Scene 2 is running again: {charged} credit" in response.content.decode()
    generation.refresh_from_db()
    assert generation.status == "queued"


def test_a_failed_assembly_is_retried_from_the_job_page_for_free(
    signed_in, user, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.generation.storyboards.tasks import storyboard_assemble

    sent = []
    monkeypatch.setattr(
        storyboard_assemble, "apply_async", lambda args, **options: sent.append(args)
    )
    generation = make_storyboard(signed_in, user)
    StoryboardScene.objects.filter(generation=generation).update(status="succeeded")
    Generation.objects.filter(pk=generation.pk).update(status="failed", error="Assembly failed")
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert "Retry the assembly" in html and "data-scene-retry" not in html
    before = credits_balance(user=user)

    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in.post(f"/jobs/{generation.pk}/retry/", follow=True)

    assert "Assembling again, free" in response.content.decode()
    assert credits_balance(user=user) == before
    assert sent == [[str(generation.pk)]]
    generation.refresh_from_db()
    assert (generation.status, generation.stage) == ("running", "assembly queued")


def test_a_failed_storyboard_retries_its_missing_scenes_from_the_job_page(signed_in, user):
    generation = make_storyboard(signed_in, user)
    fail(generation, 1)
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert "Retry the missing scenes" in html
    before = credits_balance(user=user)
    response = signed_in.post(f"/jobs/{generation.pk}/retry/", follow=True)
    charged = before - credits_balance(user=user)
    assert charged > 0
    assert f"Running again: {charged} credit" in response.content.decode()
    generation.refresh_from_db()
    assert generation.status == "queued"


def test_retry_scene_when_short_says_so_and_changes_nothing(signed_in, user):
    generation = make_storyboard(signed_in, user)
    fail(generation, 1)
    drain(user)
    response = signed_in.post(f"/jobs/{generation.pk}/scenes/1/retry/", follow=True)
    assert "Could not retry scene 2" in response.content.decode()
    generation.refresh_from_db()
    assert generation.status == "failed"


def test_retry_scene_is_a_404_for_strangers(signed_in, user, other_user):
    generation = make_storyboard(signed_in, user)
    fail(generation, 1)
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.post(f"/jobs/{generation.pk}/scenes/1/retry/").status_code == 404


def test_narrated_storyboard_player_has_a_subtitles_track(signed_in, user):
    generation = make_storyboard(signed_in, user)
    folder = Path(settings.MEDIA_ROOT) / "generations" / str(generation.pk)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "subtitles.vtt").write_text("WEBVTT\n")
    Generation.objects.filter(pk=generation.pk).update(
        status="succeeded",
        video=f"generations/{generation.pk}/subtitles.vtt",
        subtitles=f"generations/{generation.pk}/subtitles.vtt",
    )
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert re.search(
        rf'<track kind="subtitles" src="/media/generations/{generation.pk}/subtitles"', html
    )


# --- extend ---------------------------------------------------------------------------------


def finished_video(user) -> Generation:
    item = make_item(user)
    generation = item.generation
    path = Path(settings.MEDIA_ROOT) / generation.video.name
    write_clip(path, seconds=1.0, fps=8, width=160, height=96, colour=(20, 200, 60))
    return generation


def test_extend_prefills_image_to_video_with_the_last_frame(signed_in, user):
    generation = finished_video(user)
    html = signed_in.get(f"/jobs/{generation.pk}/").content.decode()
    assert "data-extend-form" in html
    response = signed_in.post(f"/jobs/{generation.pk}/extend/")
    assert response.status_code == 302
    assert response.url.startswith("/create/?kind=image_to_video&extend=")
    page = signed_in.get(response.url)
    text = page.content.decode()
    token = re.search(r'name="extend" value="([0-9a-f-]{36})"', text).group(1)
    assert f'src="/create/extend/{token}.png"' in text
    assert "Extending a video" in text
    picture = signed_in.get(f"/create/extend/{token}.png")
    assert picture.status_code == 200 and picture["Content-Type"] == "image/png"
    # Generating without choosing a file uses the frame.
    response = signed_in.post(
        "/create/",
        {
            "kind": "image_to_video",
            "extend": token,
            "num_frames": "6",
            "fps": "6",
            "size": "576x320",
        },
    )
    assert response.status_code == 302
    made = Generation.objects.filter(user=user, kind="image_to_video").get()
    with made.input_image.open("rb") as fh:
        image = Image.open(fh)
        assert image.size == (160, 96)
        assert image.convert("RGB").getpixel((2, 2))[1] > 150  # the clip's green


def test_extend_is_a_404_for_strangers_and_the_frame_too(signed_in, user, other_user):
    generation = finished_video(user)
    stranger = Client()
    stranger.force_login(other_user)
    assert stranger.post(f"/jobs/{generation.pk}/extend/").status_code == 404
    url = signed_in.post(f"/jobs/{generation.pk}/extend/").url
    token = url.split("extend=")[1].split("&")[0]
    assert stranger.get(f"/create/extend/{token}.png").status_code == 404
    page = stranger.get(url).content.decode()
    assert 'name="extend"' not in page  # someone else's frame is ignored


def test_extend_needs_a_finished_video(signed_in, user):
    generation = make_storyboard(signed_in, user)
    response = signed_in.post(f"/jobs/{generation.pk}/extend/", follow=True)
    assert "Only a finished video can be extended" in response.content.decode()
    assert signed_in.get(f"/jobs/{generation.pk}/extend/").status_code == 405


# --- filters --------------------------------------------------------------------------------


def public(user, prompt):
    return make_item(
        user, prompt=prompt, visibility=ContentItem.Visibility.PUBLIC, status="approved"
    )


def ids(response) -> list[str]:
    return re.findall(r'data-content-id="([0-9a-f-]{36})"', response.content.decode())


def test_explore_filters_by_kind_and_sorts_oldest_first(client, user):
    first, second = public(user, "first"), public(user, "second")
    Generation.objects.filter(pk=second.generation_id).update(kind="storyboard")
    assert ids(client.get("/explore/")) == [str(second.pk), str(first.pk)]
    assert ids(client.get("/explore/?sort=oldest")) == [str(first.pk), str(second.pk)]
    assert ids(client.get("/explore/?kind=storyboard")) == [str(second.pk)]
    assert ids(client.get("/explore/?kind=text_to_video")) == [str(first.pk)]
    assert ids(client.get("/explore/?kind=nonsense")) == [str(second.pk), str(first.pk)]
    html = client.get("/explore/?kind=storyboard").content.decode()
    assert '<option value="storyboard" selected>' in html


def test_gallery_filters_by_visibility_review_and_persona(signed_in, user):
    persona = Persona.objects.create(user=user, name="Koi")
    private = make_item(user, prompt="private one")
    shared = make_item(user, prompt="public one", visibility="public", status="approved")
    starring = make_item(user, prompt="with koi", persona=persona)
    assert set(ids(signed_in.get("/gallery/"))) == {
        str(private.pk),
        str(shared.pk),
        str(starring.pk),
    }
    assert ids(signed_in.get("/gallery/?visibility=public")) == [str(shared.pk)]
    assert str(shared.pk) not in ids(signed_in.get("/gallery/?moderation=pending"))
    assert ids(signed_in.get(f"/gallery/?persona={persona.pk}")) == [str(starring.pk)]
    empty = signed_in.get("/gallery/?visibility=unlisted").content.decode()
    assert "No videos match these filters" in empty


def test_pager_links_keep_the_filters(client, user, monkeypatch):
    from apps.content import views

    monkeypatch.setattr(views, "PER_PAGE", 1)
    public(user, "a"), public(user, "b")
    html = client.get("/explore/?kind=text_to_video&sort=oldest").content.decode()
    link = re.search(r'rel="next" href="([^"]+)"', html).group(1)
    assert html_lib.unescape(link) == "?kind=text_to_video&sort=oldest&page=2"


def test_the_storyboard_editor_takes_a_persona_into_every_scene(signed_in, user, other_user):
    koi = Persona.objects.create(
        user=user, name="Koi", description="a neon koi", style="synthwave glow"
    )
    Persona.objects.create(user=other_user, name="Not mine")
    html = signed_in.get(f"/create/?kind=storyboard&persona={koi.pk}").content.decode()
    picker = html.split('id="storyboard-persona"')[1].split("</select>")[0]
    assert f'<option value="{koi.pk}" selected>Koi</option>' in picker
    assert "Not mine" not in picker

    response = post_storyboard(signed_in, persona=str(koi.pk))

    assert response.status_code == 302, alert_text(response)
    generation = Generation.objects.get(user=user)
    assert generation.persona == koi
    prompts = [s.params.get("final_prompt", s.prompt) for s in generation.scenes.order_by("index")]
    assert prompts and all("a neon koi" in p and "synthwave glow" in p for p in prompts)


def test_a_strangers_persona_is_refused_by_the_storyboard_editor(signed_in, user, other_user):
    theirs = Persona.objects.create(user=other_user, name="Not mine")

    response = post_storyboard(signed_in, persona=str(theirs.pk))

    assert response.status_code == 400
    assert "No such persona" in alert_text(response)
    assert not Generation.objects.filter(user=user).exists()
