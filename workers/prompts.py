"""Prompt enhancement for text-to-video: the words Zeroscope renders best, added to the user's.

Pure Python (no torch), so the web process calls it when a generation is created and stores the
result as ``params["final_prompt"]``, which the user sees and the worker uses as-is.

The user's words come first and are never changed (CLIP reads 77 tokens; what comes first
counts most). Then a base of quality terms ("cinematic, high quality, …") and, when the prompt
is about them, additions for children's content, night scenes and nature. Terms the prompt
already has are not repeated, so enhancing twice changes nothing.
"""

from __future__ import annotations

import re

BASE_TERMS = ("cinematic", "high quality", "highly detailed", "smooth motion", "sharp focus")

# (name, words that trigger it, terms it adds)
THEMES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "children",
        (
            "child",
            "children",
            "kid",
            "kids",
            "toddler",
            "toddlers",
            "baby",
            "babies",
            "nursery",
            "playground",
            "teddy",
            "bedtime",
            "fairy tale",
            "fairytale",
            "storybook",
            "cartoon",
            "puppy",
            "kitten",
            "lullaby",
        ),
        (
            "bright friendly colors",
            "soft warm lighting",
            "gentle wholesome mood",
            "storybook illustration style",
        ),
    ),
    (
        "night",
        (
            "night",
            "nights",
            "nighttime",
            "midnight",
            "moon",
            "moonlight",
            "moonlit",
            "starry",
            "stars",
            "dark",
            "darkness",
            "evening",
            "dusk",
            "nocturnal",
            "neon",
        ),
        ("moody night lighting", "deep shadows", "glowing highlights", "low light detail"),
    ),
    (
        "nature",
        (
            "nature",
            "forest",
            "forests",
            "woods",
            "jungle",
            "mountain",
            "mountains",
            "river",
            "lake",
            "ocean",
            "sea",
            "beach",
            "waterfall",
            "meadow",
            "field",
            "flower",
            "flowers",
            "tree",
            "trees",
            "garden",
            "wildlife",
            "valley",
            "desert",
            "canyon",
            "sunrise",
            "sunset",
            "landscape",
            "rainforest",
            "animals",
            "birds",
        ),
        ("natural light", "lush landscape", "vivid organic colors", "rich natural textures"),
    ),
)


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def detect_themes(prompt: str) -> list[str]:
    """The themes (children, night, nature) the prompt is about, in that order."""
    text = prompt.lower()
    return [name for name, words, _ in THEMES if any(_has(text, w) for w in words)]


def enhance_prompt(prompt: str) -> str:
    """The prompt with quality terms and theme additions appended; "" stays ""."""
    text = " ".join(prompt.split())
    if not text:
        return ""
    lowered = text.lower()
    additions: list[str] = []
    themes = set(detect_themes(text))
    candidates = list(BASE_TERMS)
    for name, _, terms in THEMES:
        if name in themes:
            candidates += terms
    for term in candidates:
        if not _has(lowered, term) and term not in additions:
            additions.append(term)
    return ", ".join([text.rstrip(" ,."), *additions]) if additions else text
