"""A story text → at most five scenes, by Gemini (structured JSON) or by a local splitter.

``split_story_gemini`` asks Gemini (the official google-genai client) for scenes as JSON that
follows a response schema: each scene's narration text, a visual prompt, and descriptions of its
first and last frames. Rate limits (429), server errors (5xx) and network failures are retried
with exponential backoff (google-genai's ``HttpRetryOptions``); any failure left after that raises ``StorySplitError``, on
which the caller uses ``split_story_local``. ``split_story`` does exactly that and says which
one was used.

The local splitter cuts at paragraphs when the story has several, else at sentences, then merges
neighbours (the shortest pair first) until at most ``max_scenes`` remain. Its visual prompts are
the scene's words with the platform's prompt enhancement (``workers.prompts.enhance_prompt``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from workers.prompts import enhance_prompt

logger = logging.getLogger(__name__)

DEFAULT_MAX_SCENES = 5
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"
VISUAL_PROMPT_WORDS = 40  # the local splitter's visual prompt: the scene's first words
RETRY_STATUS_CODES = frozenset({408, 429, 500, 502, 503, 504})

STORY_PROMPT = (
    "You are a storyboard artist for short AI-generated videos. Split the story below into at "
    "most {max_scenes} scenes, in story order, together covering the whole story; fewer scenes "
    "are fine for a short story. For each scene give: "
    "`text` (the part of the story the scene tells, in the story's own words: it is read as "
    "narration), "
    "`visual_prompt` (a text-to-video prompt for what is seen: subject, action, setting, "
    "lighting, camera; at most 60 words; describe recurring characters the same way in every "
    "scene), "
    "`first_frame` (one sentence describing the scene's first frame), "
    "`last_frame` (one sentence describing its last frame). "
    "Answer only with JSON.\n\nStory:\n{story}"
)

_SCENE_FIELDS = ("text", "visual_prompt", "first_frame", "last_frame")
# Words whose trailing full stop does not end a sentence.
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "mt", "no"}
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")


class StorySplitError(Exception):
    """Gemini gave no usable scenes (not configured, refused, failed or malformed)."""


@dataclass(frozen=True)
class SceneDraft:
    text: str  # what the scene tells (narration)
    visual_prompt: str  # what the scene shows (the engine's prompt)
    first_frame: str  # a description of the scene's first frame
    last_frame: str  # a description of its last frame


@dataclass(frozen=True)
class StorySplit:
    scenes: list[SceneDraft]
    source: str  # "gemini" | "local"
    error: str = ""  # why Gemini was not used, when it was tried and failed


class _SceneModel(BaseModel):
    text: str
    visual_prompt: str
    first_frame: str = ""
    last_frame: str = ""


class _StoryboardModel(BaseModel):
    scenes: list[_SceneModel]


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text``, whitespace collapsed; common abbreviations do not end one."""
    text = " ".join(text.split())
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        words = text[start : match.start()].split()
        word = words[-1].lower() if words else ""
        if match.group().startswith(".") and word in _ABBREVIATIONS:
            continue
        sentences.append(text[start : match.end()].strip())
        start = match.end()
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return [s for s in sentences if s]


def split_story_local(text: str, *, max_scenes: int = DEFAULT_MAX_SCENES) -> list[SceneDraft]:
    """Split ``text`` into at most ``max_scenes`` scenes without any service.

    Paragraphs (blank-line separated) are the scenes when there are several; a single paragraph
    is split into sentences. Neighbours are then merged, the shortest pair first, until at most
    ``max_scenes`` remain. ``ValueError`` for an empty story.
    """
    if max_scenes < 1:
        raise ValueError(f"max_scenes must be at least 1, got {max_scenes}")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text)]
    paragraphs = [p for p in paragraphs if p]
    if not paragraphs:
        raise ValueError("the story is empty")
    units = paragraphs if len(paragraphs) > 1 else split_sentences(paragraphs[0])
    while len(units) > max_scenes:
        i = min(range(len(units) - 1), key=lambda j: len(units[j]) + len(units[j + 1]))
        units[i : i + 2] = [f"{units[i]} {units[i + 1]}"]
    return [_local_draft(unit) for unit in units]


def split_story_gemini(
    text: str,
    *,
    api_key: str,
    base_url: str | None = None,
    model: str = DEFAULT_GEMINI_MODEL,
    max_scenes: int = DEFAULT_MAX_SCENES,
    retries: int = 4,
    backoff_initial: float = 1.0,
    backoff_max: float = 16.0,
    timeout: float = 60.0,
) -> list[SceneDraft]:
    """Ask Gemini to split ``text`` into at most ``max_scenes`` scenes (structured JSON).

    429, 408 and 5xx answers, connection errors and timeouts are retried ``retries`` times by
    the client's own retry loop, waiting ``backoff_initial`` seconds, then twice as long each
    time (plus up to ``backoff_initial`` of jitter, at most ``backoff_max``); other errors are
    not retried. ``StorySplitError`` when no usable answer came; the caller then falls back
    to ``split_story_local``. ``base_url`` points the client elsewhere (tests use a local server).
    """
    story = text.strip()
    if not story:
        raise ValueError("the story is empty")
    if max_scenes < 1:
        raise ValueError(f"max_scenes must be at least 1, got {max_scenes}")
    if not api_key:
        raise StorySplitError("no Gemini API key is configured")

    from google import genai
    from google.genai import errors, types

    # The client's own retry loop (tenacity): exponential backoff with jitter on the listed
    # statuses and on transient connection errors and timeouts; other errors are not retried.
    retry = types.HttpRetryOptions(
        attempts=max(0, retries) + 1,
        initial_delay=backoff_initial,
        max_delay=backoff_max,
        exp_base=2.0,
        jitter=backoff_initial,
        http_status_codes=sorted(RETRY_STATUS_CODES),
    )
    options = types.HttpOptions(
        api_version="v1beta", timeout=int(timeout * 1000), retry_options=retry
    )
    if base_url:
        options.base_url = base_url
    config = types.GenerateContentConfig(
        response_mime_type="application/json",
        response_schema=story_response_schema(max_scenes),
        temperature=0.5,
    )
    client = None
    try:
        client = genai.Client(api_key=api_key, http_options=options)
        response = client.models.generate_content(
            model=model,
            contents=STORY_PROMPT.format(max_scenes=max_scenes, story=story),
            config=config,
        )
        parsed = _StoryboardModel.model_validate_json(response.text or "")
    except errors.APIError as exc:
        raise StorySplitError(f"Gemini answered {exc.code}: {exc.message}") from exc
    except ValidationError as exc:
        raise StorySplitError("Gemini's answer was not the scene JSON asked for") from exc
    except Exception as exc:  # network errors and timeouts after the retries, blocked answers
        raise StorySplitError(f"Gemini could not be reached: {exc!r}") from exc
    finally:
        if client is not None:
            client.close()

    scenes = _clean_scenes(parsed.scenes, max_scenes)
    if not scenes:
        raise StorySplitError("Gemini returned no scenes")
    return scenes


def split_story(
    text: str,
    *,
    api_key: str | None,
    base_url: str | None = None,
    model: str = DEFAULT_GEMINI_MODEL,
    max_scenes: int = DEFAULT_MAX_SCENES,
    retries: int = 4,
) -> StorySplit:
    """Gemini when an API key is given and it answers; the local splitter otherwise."""
    if api_key:
        try:
            scenes = split_story_gemini(
                text,
                api_key=api_key,
                base_url=base_url,
                model=model,
                max_scenes=max_scenes,
                retries=retries,
            )
            return StorySplit(scenes=scenes, source="gemini")
        except StorySplitError as exc:
            logger.warning("Story split by Gemini failed, splitting locally: %s", exc)
            return StorySplit(
                scenes=split_story_local(text, max_scenes=max_scenes),
                source="local",
                error=str(exc),
            )
    return StorySplit(scenes=split_story_local(text, max_scenes=max_scenes), source="local")


def story_response_schema(max_scenes: int):
    """The ``responseSchema`` sent to Gemini: ``{"scenes": [1..max_scenes scene objects]}``."""
    from google.genai import types

    string = types.Schema(type=types.Type.STRING)
    scene = types.Schema(
        type=types.Type.OBJECT,
        properties=dict.fromkeys(_SCENE_FIELDS, string),
        required=list(_SCENE_FIELDS),
        property_ordering=list(_SCENE_FIELDS),
    )
    return types.Schema(
        type=types.Type.OBJECT,
        properties={
            "scenes": types.Schema(
                type=types.Type.ARRAY, items=scene, min_items=1, max_items=max_scenes
            )
        },
        required=["scenes"],
    )


def _clean_scenes(models: list[_SceneModel], max_scenes: int) -> list[SceneDraft]:
    """Whitespace collapsed, empty scenes dropped, a surplus merged into the last scene."""
    scenes = []
    for model in models:
        text = " ".join(model.text.split())
        if not text:
            continue
        prompt = " ".join(model.visual_prompt.split()) or _local_visual(text)
        first = " ".join(model.first_frame.split())
        last = " ".join(model.last_frame.split())
        scenes.append(SceneDraft(text, prompt, first, last))
    if len(scenes) > max_scenes:  # the schema says at most max_scenes; do not lose the story
        keep, extra = scenes[: max_scenes - 1], scenes[max_scenes - 1 :]
        merged = SceneDraft(
            text=" ".join(s.text for s in extra),
            visual_prompt=extra[0].visual_prompt,
            first_frame=extra[0].first_frame,
            last_frame=extra[-1].last_frame,
        )
        scenes = [*keep, merged]
    return scenes


def _local_draft(text: str) -> SceneDraft:
    sentences = split_sentences(text) or [text]
    return SceneDraft(
        text=text,
        visual_prompt=_local_visual(text),
        first_frame=f"Opening shot: {sentences[0]}",
        last_frame=f"Closing shot: {sentences[-1]}",
    )


def _local_visual(text: str) -> str:
    words = text.split()
    subject = " ".join(words[:VISUAL_PROMPT_WORDS]).rstrip(" ,;:")
    return enhance_prompt(subject)
