"""The blocklist screen run on user text before anything is priced or charged.

It sits below every app that takes text from users (generation prompts, storyboard scenes and
stories, persona text, library titles), so each calls it without depending on the others.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from django.conf import settings

from .exceptions import ApplicationError


class PromptBlocked(ApplicationError):
    status_code = 400
    default_code = "prompt_blocked"


def _normalise(text: str) -> str:
    """Case-folded words separated by single spaces: punctuation and spacing tricks fall away."""
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


@functools.lru_cache(maxsize=8)
def _blocklist_pattern(blocklist: tuple[str, ...]) -> re.Pattern | None:
    phrases = sorted({p for p in (_normalise(w) for w in blocklist) if p}, key=len, reverse=True)
    if not phrases:
        return None
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(p) for p in phrases) + r")(?!\w)")


def prompt_screen(*, text: str) -> None:
    """Refuse text that contains a phrase of settings.CONTENT_BLOCKLIST (whole words, any case).

    Called before anything is priced or charged: generation prompts, negative prompts, persona
    text and titles. Raises PromptBlocked (HTTP 400, code `prompt_blocked`).
    """
    if not text:
        return
    pattern = _blocklist_pattern(tuple(settings.CONTENT_BLOCKLIST))
    match = pattern.search(_normalise(text)) if pattern else None
    if match:
        raise PromptBlocked(
            f'This request contains a blocked phrase ("{match.group(1)}") and was refused; '
            "nothing was charged. See the content rules."
        )
