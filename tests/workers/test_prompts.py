import subprocess
import sys
from pathlib import Path

import pytest

from workers.prompts import BASE_TERMS, detect_themes, enhance_prompt

REPO = Path(__file__).resolve().parents[2]


def test_enhancement_keeps_the_users_words_first_and_adds_quality_terms():
    enhanced = enhance_prompt("a red kite over a harbour")

    assert enhanced.startswith("a red kite over a harbour, cinematic, high quality")
    assert all(term in enhanced for term in BASE_TERMS)


@pytest.mark.parametrize(
    ("prompt", "themes", "added"),
    [
        ("two kids building a sandcastle", ["children"], "bright friendly colors"),
        ("a toddler and a teddy bear", ["children"], "soft warm lighting"),
        ("a city street at midnight", ["night"], "moody night lighting"),
        ("under the moonlit sky", ["night"], "deep shadows"),
        ("a waterfall in a misty forest", ["nature"], "natural light"),
        ("children camping in the mountains at night", ["children", "night", "nature"], ""),
    ],
)
def test_content_based_additions(prompt, themes, added):
    assert detect_themes(prompt) == themes
    assert added in enhance_prompt(prompt)


def test_theme_words_match_whole_words_only():
    assert detect_themes("a darkroom with seaweed posters") == []
    assert detect_themes("Kidney beans on a plate") == []


def test_terms_already_in_the_prompt_are_not_repeated():
    enhanced = enhance_prompt("Cinematic shot of a fox, high quality")

    assert enhanced.lower().count("cinematic") == 1
    assert enhanced.lower().count("high quality") == 1


@pytest.mark.parametrize(
    "prompt",
    ["a fox", "kids at the beach at night", "neon rain over a quiet harbour.", "  spaced   out  "],
)
def test_enhancing_twice_changes_nothing(prompt):
    once = enhance_prompt(prompt)

    assert enhance_prompt(once) == once


def test_empty_prompt_stays_empty():
    assert enhance_prompt("") == ""
    assert enhance_prompt("   ") == ""


def test_prompts_module_imports_no_torch_or_django():
    code = (
        "import sys, workers.prompts;"
        "workers.prompts.enhance_prompt('a cat at night');"
        "bad = [m for m in ('torch', 'diffusers', 'django') if m in sys.modules];"
        "assert not bad, bad"
    )

    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
