"""The blocklist screen run on user text before anything is priced or charged.

It sits below every app that takes text from users (generation prompts, storyboard scenes and
stories, persona text, library titles), so each calls it without depending on the others.

Text and blocked phrases are both reduced to a *skeleton* before they are compared:

1. Unicode: NFKD with the combining marks and invisible format characters (zero-width spaces
   and joiners, soft hyphens) dropped, then NFKC and case folding: full-width, mathematical and
   circled letters become plain ones, "pörn" becomes "porn", "por\u200bn" becomes "porn".
2. Look-alikes: Cyrillic, Greek, Armenian and small-capital letters that look like Latin ones
   become those (`HOMOGLYPHS`), and so do the usual leetspeak digits and symbols (`LEET`: 0→o,
   3→e, 4→a, 5→s, 7→t, @→a, $→s, ...). `1`, `!`, `|` and `l` all become `i`, since each stands
   for the others.
3. Everything else that is not a letter or digit separates words; repeated letters collapse
   to one ("pooorn" → "porn").

A phrase matches when its skeleton, with its spaces removed, equals the skeletons of one or more
consecutive words of the text joined together: it must start where a word starts and end where
a word ends. So "d.e.e.p.f.a.k.e p0rn", "deep-fake porn" and "deepfakeporn" all match "deepfake
porn", while a phrase inside a longer word ("csamurai") or across the edges of two ordinary
words ("physics am" holds "csam" from its sixth letter) does not. The text is read twice: once
with symbols as letters where a letter or digit follows them (so "p@rn" is "parn" and
"$ex" is "sex"), once with every digit and symbol a separator (so "porn!" and "childporn123"
still end where the phrase does).
"""

from __future__ import annotations

import functools
import unicodedata

from django.conf import settings

from .exceptions import ApplicationError


class PromptBlocked(ApplicationError):
    status_code = 400
    default_code = "prompt_blocked"


# Letters of other scripts (after case folding) that look like Latin letters.
HOMOGLYPHS = {
    # Cyrillic
    "а": "a", "в": "b", "ь": "b", "с": "c", "ԁ": "d", "е": "e", "ё": "e", "һ": "h", "н": "h",
    "і": "i", "ї": "i", "ӏ": "i", "ј": "j", "к": "k", "м": "m", "п": "n", "о": "o", "р": "p",
    "ԛ": "q", "г": "r", "ѕ": "s", "т": "t", "у": "y", "ԝ": "w", "ш": "w", "х": "x",
    # Greek
    "α": "a", "β": "b", "ς": "c", "δ": "d", "ε": "e", "γ": "y", "η": "n", "ι": "i", "κ": "k",
    "μ": "u", "ν": "v", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "τ": "t", "υ": "u", "χ": "x",
    "ω": "w", "ζ": "z",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "ց": "g", "հ": "h",
    # Latin variants that neither NFKC nor the marks' removal turn into ASCII
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɩ": "i", "ɪ": "i", "ʟ": "l", "ᴀ": "a", "ʙ": "b",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ꜰ": "f", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ᴍ": "m", "ɴ": "n",
    "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y",
    "ᴢ": "z", "ø": "o", "đ": "d", "ł": "l", "ħ": "h", "ŧ": "t", "ƀ": "b", "æ": "ae", "œ": "oe",
}  # fmt: skip
# Digits that stand for letters; `l` joins `i` (and `1`, `!`, `|`), which stand for each other.
LEET_DIGITS = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
# Symbols that stand for letters, read as letters only where a letter or digit follows them.
LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "i", "+": "t", "€": "e", "£": "i"}
_FOLD = str.maketrans({**HOMOGLYPHS, "l": "i"})
_INVISIBLE = {"Mn", "Me", "Cf"}  # combining marks, enclosing marks, format characters


def _fold(text: str) -> str:
    """Unicode-normalised, case-folded text with look-alike letters made Latin."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _INVISIBLE)
    return unicodedata.normalize("NFKC", kept).casefold().translate(_FOLD)


def _skeleton(folded: str, *, leet: bool) -> tuple[str, frozenset[int]]:
    """The text's letters (repeats collapsed) and the offsets in it where a word starts or ends.

    With `leet`, digits and symbols stand for letters (symbols only before a letter or digit);
    without it, they separate words.
    """
    out: list[str] = []
    bounds = {0}
    previous_was_letter = False
    for i, char in enumerate(folded):
        letter = None
        if char.isalpha():
            letter = char
        elif leet and char in LEET_DIGITS:
            letter = LEET_DIGITS[char]
        elif leet and char in LEET_SYMBOLS:
            following = folded[i + 1] if i + 1 < len(folded) else ""
            if following.isalnum():
                letter = LEET_SYMBOLS[char]
        if letter is None:
            if previous_was_letter:
                bounds.add(len(out))
            previous_was_letter = False
            continue
        if not previous_was_letter:
            bounds.add(len(out))
        for c in letter:
            if not out or out[-1] != c:
                out.append(c)
        previous_was_letter = True
    bounds.add(len(out))
    return "".join(out), frozenset(bounds)


@functools.lru_cache(maxsize=8)
def _blocked_skeletons(blocklist: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(skeleton, phrase) for each phrase of the list, longest first, empty ones dropped."""
    pairs = {}
    for phrase in blocklist:
        skeleton, _ = _skeleton(_fold(phrase), leet=True)
        if skeleton:
            pairs.setdefault(skeleton, phrase.strip())
    return tuple(sorted(pairs.items(), key=lambda p: len(p[0]), reverse=True))


def _find(skeleton: str, bounds: frozenset[int], needle: str) -> bool:
    start = skeleton.find(needle)
    while start != -1:
        if start in bounds and start + len(needle) in bounds:
            return True
        start = skeleton.find(needle, start + 1)
    return False


def prompt_blocked_phrase(*, text: str) -> str | None:
    """The phrase of settings.CONTENT_BLOCKLIST that `text` contains, or None."""
    blocked = _blocked_skeletons(tuple(settings.CONTENT_BLOCKLIST))
    if not text or not blocked:
        return None
    folded = _fold(text)
    for leet in (True, False):
        skeleton, bounds = _skeleton(folded, leet=leet)
        for needle, phrase in blocked:
            if _find(skeleton, bounds, needle):
                return phrase
    return None


def prompt_screen(*, text: str) -> None:
    """Refuse text that contains a phrase of settings.CONTENT_BLOCKLIST, however it is spelled
    (spacing, punctuation, case, accents, look-alike letters, leetspeak: see above).

    Called before anything is priced or charged: generation prompts, negative prompts, persona
    text and titles. Raises PromptBlocked (HTTP 400, code `prompt_blocked`).
    """
    phrase = prompt_blocked_phrase(text=text)
    if phrase is not None:
        raise PromptBlocked(
            f'This request contains a blocked phrase ("{phrase}") and was refused; '
            "nothing was charged. See the content rules."
        )
