"""The library hook (one item per succeeded generation) and the blocklist screen."""

from __future__ import annotations

import pytest

from apps.content.models import ContentItem
from apps.content.services import content_item_create_for_generation
from apps.core.screening import PromptBlocked, prompt_screen
from apps.generation import services as generation_services
from tests.content.conftest import finish_generation

pytestmark = pytest.mark.django_db


def new_generation(user, prompt="a neon koi", **extra):
    return generation_services.generation_create(
        user=user,
        kind="text_to_video",
        engine="procedural",
        prompt=prompt,
        params={"num_frames": 8, "width": 320, "height": 192, "fps": 8},
        **extra,
    ).generation


def test_a_succeeded_generation_becomes_one_private_pending_item(user, settings):
    settings.CONTENT_AUTO_APPROVE = False
    generation = new_generation(user, prompt="  a   neon koi ")
    assert not ContentItem.objects.exists()
    finish_generation(generation)
    item = ContentItem.objects.get()
    assert item.generation == generation and item.owner == user
    assert (item.visibility, item.moderation_status) == ("private", "pending")
    assert item.title == "a neon koi"
    # The hook is idempotent: a second call (a redelivered task) returns the same item.
    assert content_item_create_for_generation(generation=generation) == item
    assert ContentItem.objects.count() == 1


def test_auto_approve_setting_approves_new_items(user, settings):
    settings.CONTENT_AUTO_APPROVE = True
    finish_generation(new_generation(user))
    item = ContentItem.objects.get()
    assert item.moderation_status == "approved" and item.moderated_at is not None


def test_failed_generations_make_no_item(user):
    generation = new_generation(user)
    generation_services.generation_mark_failed(generation_id=generation.pk, error="boom")
    assert not ContentItem.objects.exists()


def test_long_prompts_make_a_short_title(user):
    finish_generation(new_generation(user, prompt="word " * 100))
    title = ContentItem.objects.get().title
    assert len(title) == 120 and title.endswith("…")


@pytest.mark.parametrize(
    "text",
    [
        "CSAM",
        "some child-porn here",
        "child\nporn",
        "Ｃｈｉｌｄ ｐｏｒｎ",  # full-width letters fold to the same words
        "a deepfake   nude of my neighbour",
    ],
)
def test_screen_refuses_blocked_phrases_whatever_the_spelling(text):
    with pytest.raises(PromptBlocked) as caught:
        prompt_screen(text=text)
    assert caught.value.code == "prompt_blocked"
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    "text",
    ["a child flying a kite at dusk", "scampi on a plate", "csamurai warrior", "", "porn-free"],
)
def test_screen_lets_ordinary_text_through(text):
    prompt_screen(text=text)


def test_blocklist_is_configurable(settings):
    settings.CONTENT_BLOCKLIST = ["purple monkey"]
    prompt_screen(text="csam")  # the defaults are replaced
    with pytest.raises(PromptBlocked):
        prompt_screen(text="a Purple-Monkey dishwasher")
    settings.CONTENT_BLOCKLIST = []
    prompt_screen(text="purple monkey")
