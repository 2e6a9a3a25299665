"""Story splitting: the local splitter, and Gemini through a local stand-in of its API."""

from __future__ import annotations

import json

import pytest

from tests.workers.storyboard.gemini_fake import STORY_REPLY
from workers.storyboard.story import (
    SceneDraft,
    StorySplitError,
    split_sentences,
    split_story,
    split_story_gemini,
    split_story_local,
)

KEY = "test-gemini-key"
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05}

THREE_PARAGRAPHS = """Mira finds a glowing map in the attic. It hums softly.

She follows it through the rainy city. The streets shine with neon.
The lighthouse waits at the end of the pier.

At the top, the lamp turns. The sea lights up with stars."""


def test_paragraphs_are_the_scenes_when_there_are_several():
    scenes = split_story_local(THREE_PARAGRAPHS)

    assert [s.text for s in scenes] == [
        "Mira finds a glowing map in the attic. It hums softly.",
        "She follows it through the rainy city. The streets shine with neon. "
        "The lighthouse waits at the end of the pier.",
        "At the top, the lamp turns. The sea lights up with stars.",
    ]


def test_a_single_paragraph_is_split_into_sentences():
    scenes = split_story_local("A seed falls. Rain comes. A tree grows tall.")

    assert [s.text for s in scenes] == ["A seed falls.", "Rain comes.", "A tree grows tall."]


def test_at_most_five_scenes_and_nothing_lost_or_reordered():
    sentences = [f"Scene number {i} happens here{'!' if i % 2 else '.'}" for i in range(12)]
    text = " ".join(sentences)

    scenes = split_story_local(text)

    assert len(scenes) == 5
    assert " ".join(s.text for s in scenes) == text
    assert len(split_story_local(text, max_scenes=2)) == 2


def test_many_paragraphs_merge_to_five():
    text = "\n\n".join(f"Paragraph {i} tells part {i}." for i in range(9))

    scenes = split_story_local(text)

    assert len(scenes) == 5
    assert all("\n" not in s.text for s in scenes)
    assert scenes[0].text.startswith("Paragraph 0") and scenes[-1].text.endswith("part 8.")


def test_local_scenes_get_the_enhanced_visual_prompt_and_frame_descriptions():
    scenes = split_story_local("A fox runs through the moonlit forest. It stops at the river.")

    fox = scenes[0]
    assert fox.visual_prompt.startswith("A fox runs through the moonlit forest")
    assert "cinematic" in fox.visual_prompt
    assert "moody night lighting" in fox.visual_prompt  # the night theme
    assert fox.first_frame.endswith("A fox runs through the moonlit forest.")
    assert scenes[1].last_frame.endswith("It stops at the river.")


def test_sentences_keep_abbreviations_and_quotes():
    assert split_sentences('Dr. Lee waved. "Run!" she said. Then... silence?') == [
        "Dr. Lee waved.",
        '"Run!"',
        "she said.",
        "Then...",
        "silence?",
    ]


def test_empty_story_is_refused():
    with pytest.raises(ValueError, match="empty"):
        split_story_local(" \n\n ")


def test_gemini_retries_a_429_then_returns_its_scenes(gemini_fake):
    gemini_fake.fail_next(429)

    scenes = split_story_gemini(
        THREE_PARAGRAPHS,
        api_key=KEY,
        base_url=gemini_fake.base_url,
        model="gemini-test-flash",
        **FAST,
    )

    assert scenes == [SceneDraft(**scene) for scene in STORY_REPLY["scenes"]]
    calls = gemini_fake.generate_calls
    assert len(calls) == 2
    assert all(c.path == "/v1beta/models/gemini-test-flash:generateContent" for c in calls)
    assert calls[-1].headers["x-goog-api-key"] == KEY


def test_the_request_carries_the_story_and_the_response_schema(gemini_fake):
    split_story_gemini(THREE_PARAGRAPHS, api_key=KEY, base_url=gemini_fake.base_url, max_scenes=4)

    body = gemini_fake.generate_calls[-1].body
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    scenes = schema["properties"]["scenes"]
    assert schema["required"] == ["scenes"]
    # google-genai sends the schema's nested fields in proto field names (both spellings are
    # valid proto3 JSON for Google's API).
    max_items = scenes.get("maxItems", scenes.get("max_items"))
    assert scenes["type"] == "ARRAY" and int(max_items) == 4
    assert scenes["items"]["required"] == ["text", "visual_prompt", "first_frame", "last_frame"]
    prompt = body["contents"][0]["parts"][0]["text"]
    assert "at most 4 scenes" in prompt and "The sea lights up with stars." in prompt


def test_persistent_server_errors_raise_after_the_retries(gemini_fake):
    gemini_fake.fail_next(500, times=10)

    with pytest.raises(StorySplitError, match="500"):
        split_story_gemini(
            "A story.", api_key=KEY, base_url=gemini_fake.base_url, retries=2, **FAST
        )

    assert len(gemini_fake.generate_calls) == 3  # the first try and two retries


def test_client_errors_are_not_retried(gemini_fake):
    gemini_fake.fail_next(400)

    with pytest.raises(StorySplitError, match="400"):
        split_story_gemini("A story.", api_key=KEY, base_url=gemini_fake.base_url, **FAST)

    assert len(gemini_fake.generate_calls) == 1


def test_an_answer_that_is_not_the_schema_raises(gemini_fake):
    gemini_fake.reply = json.dumps({"shots": ["one"]})

    with pytest.raises(StorySplitError, match="not the scene JSON"):
        split_story_gemini("A story.", api_key=KEY, base_url=gemini_fake.base_url)


def test_extra_scenes_from_gemini_are_merged_into_the_last(gemini_fake):
    scenes = STORY_REPLY["scenes"]

    result = split_story_gemini(
        "A story.", api_key=KEY, base_url=gemini_fake.base_url, max_scenes=2
    )

    assert len(result) == 2
    assert result[0].text == scenes[0]["text"]
    assert result[1].text == f"{scenes[1]['text']} {scenes[2]['text']}"
    assert result[1].last_frame == scenes[2]["last_frame"]


def test_split_story_falls_back_to_local_when_gemini_keeps_failing(gemini_fake):
    gemini_fake.fail_next(503, times=10)

    result = split_story(THREE_PARAGRAPHS, api_key=KEY, base_url=gemini_fake.base_url, retries=0)

    assert result.source == "local"
    assert "503" in result.error
    assert result.scenes == split_story_local(THREE_PARAGRAPHS)


def test_split_story_uses_gemini_when_it_answers(gemini_fake):
    result = split_story(THREE_PARAGRAPHS, api_key=KEY, base_url=gemini_fake.base_url)

    assert result.source == "gemini"
    assert len(result.scenes) == 3 and result.error == ""


def test_without_a_key_gemini_is_not_called(gemini_fake):
    result = split_story(THREE_PARAGRAPHS, api_key="", base_url=gemini_fake.base_url)

    assert result.source == "local"
    assert gemini_fake.requests == []
    with pytest.raises(StorySplitError, match="no Gemini API key"):
        split_story_gemini("A story.", api_key="", base_url=gemini_fake.base_url)


def test_an_unreachable_server_raises_after_the_retries():
    with pytest.raises(StorySplitError, match="could not be reached"):
        split_story_gemini(
            "A story.", api_key=KEY, base_url="http://127.0.0.1:9", retries=1, timeout=2, **FAST
        )
