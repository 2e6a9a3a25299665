"""The prompt screen sees through spacing, punctuation, case, accents, look-alike letters and
leetspeak, and still lets ordinary text through, also text whose words, run together, would
hold a blocked phrase across their edges. Run against the default CONTENT_BLOCKLIST."""

from __future__ import annotations

import pytest

from apps.core.screening import PromptBlocked, prompt_blocked_phrase, prompt_screen
from config.settings import base

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def default_blocklist(settings):
    settings.CONTENT_BLOCKLIST = list(base.CONTENT_BLOCKLIST)


BLOCKED = [
    ("d.e.e.p.f.a.k.e p0rn", "deepfake porn"),
    ("a DEEP-FAKE  P0RN!", "deepfake porn"),
    ("deepfakeporn please", "deepfake porn"),
    ("d e e p f a k e   p o r n", "deepfake porn"),
    ("dееpfаkе pоrn", "deepfake porn"),  # Cyrillic е, а, о
    ("ԁeepfake ρorn", "deepfake porn"),  # Cyrillic ԁ, Greek ρ
    ("ｄｅｅｐｆａｋｅ ｐｏｒｎ", "deepfake porn"),  # full-width
    ("𝐝𝐞𝐞𝐩𝐟𝐚𝐤𝐞 𝐧𝐮𝐝𝐞", "deepfake nude"),  # mathematical bold
    ("ᴅᴇᴇᴘꜰᴀᴋᴇ ɴᴜᴅᴇ", "deepfake nude"),  # small capitals
    ("ch1ld p0rn", "child porn"),
    ("chi|d-p0rn", "child porn"),
    ("c.s.a.m", "csam"),
    ("CS@M", "csam"),
    ("c$am", "csam"),
    ("childporn123", "child porn"),
    ("revenge por\u200bn", "revenge porn"),  # a zero-width space inside the word
    ("revenge p\u00adorn", "revenge porn"),  # a soft hyphen
    ("nön-cönsensual pörn", "non-consensual porn"),  # accents
    ("b3st1al1ty", "bestiality"),
    ("$nuff_film", "snuff film"),
    ("a snufffff film", "snuff film"),  # repeated letters
    ("underage\tnude", "underage nude"),
    ("sexualized\nminor", "sexualized minor"),
    ("nude kid", None),  # not on the list: the screen is a list, not a classifier
]


@pytest.mark.parametrize(("text", "phrase"), BLOCKED)
def test_blocked_phrases_are_caught_however_they_are_spelled(text, phrase):
    assert prompt_blocked_phrase(text=text) == phrase
    if phrase:
        with pytest.raises(PromptBlocked) as caught:
            prompt_screen(text=text)
        assert caught.value.code == "prompt_blocked" and phrase in caught.value.message


ORDINARY = [
    "a child flying a kite at dusk",
    "csamurai warrior in the rain",  # "csam" starts a longer word
    "physics am I right",  # "physicsam" holds "csam", but not where a word starts
    "scampi on a plate",
    "porn-free family film",
    "a deepfake detector tutorial",
    "my child portrait, oil on canvas",
    "a 1080p video of a nude beach at 5 am",
    "naked childhood memories, sepia",  # "naked child" is a phrase, "childhood" another word
    "the bestial roar of a lion",
    "snuff the candle, then film the smoke",
    "minor chords on a sexualised... no: a piano",
    "revenge of the porcupine",
    "non-consensual? no, consensual hugging",
    "ch1ldren playing football",
    "an undersea nudibranch",
    "under age limits: none",
    "child, porcelain doll",
    "best ideals and integrity",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_goes_through(text):
    assert prompt_blocked_phrase(text=text) is None
    prompt_screen(text=text)


def test_the_list_is_read_through_the_same_folding(settings):
    settings.CONTENT_BLOCKLIST = ["Pürple  MONKEY"]
    assert prompt_blocked_phrase(text="a purple-m0nkey dishwasher") == "Pürple  MONKEY"
    assert prompt_blocked_phrase(text="a purple monkeywrench") is None
    settings.CONTENT_BLOCKLIST = []
    assert prompt_blocked_phrase(text="purple monkey") is None
