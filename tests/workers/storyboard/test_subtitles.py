"""Narration text → WebVTT: a valid track, one cue per sentence, timed by characters."""

from __future__ import annotations

import re

import pytest

from workers.storyboard.subtitles import narration_to_webvtt

CUE_TIME = re.compile(r"^(\d{2}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2}):(\d{2}):(\d{2})\.(\d{3})$")


def _cues(vtt: str) -> list[tuple[float, float, str]]:
    """Parse the track the way a strict reader would; fail on anything malformed."""
    assert vtt.startswith("WEBVTT\n\n")
    cues = []
    for block in vtt[len("WEBVTT\n\n") :].strip("\n").split("\n\n"):
        if not block:
            continue
        lines = block.split("\n")
        identifier, timing, text = lines[0], lines[1], lines[2:]
        assert identifier.isdigit()
        match = CUE_TIME.match(timing)
        assert match, timing
        h1, m1, s1, ms1, h2, m2, s2, ms2 = (int(g) for g in match.groups())
        start = h1 * 3600 + m1 * 60 + s1 + ms1 / 1000
        end = h2 * 3600 + m2 * 60 + s2 + ms2 / 1000
        assert text and all(line.strip() for line in text)
        assert "-->" not in " ".join(text)
        cues.append((start, end, " ".join(text)))
    return cues


def test_one_cue_per_sentence_spanning_the_duration():
    text = "The sun rises. A fox crosses the frozen river! Where is it going? Nobody knows."

    cues = _cues(narration_to_webvtt(text, duration=8.0))

    assert [c[2] for c in cues] == [
        "The sun rises.",
        "A fox crosses the frozen river!",
        "Where is it going?",
        "Nobody knows.",
    ]
    assert cues[0][0] == 0.0
    assert cues[-1][1] == 8.0
    for (_, end, _), (start, _, _) in zip(cues, cues[1:], strict=False):
        assert end == start  # back to back
    assert all(start < end for start, end, _ in cues)


def test_cue_lengths_follow_the_characters():
    short, long = "Go.", "The caravan winds slowly through the endless golden dunes."

    cues = _cues(narration_to_webvtt(f"{short} {long}", duration=6.1))

    ratio = (cues[1][1] - cues[1][0]) / (cues[0][1] - cues[0][0])
    assert ratio == pytest.approx(len(long) / len(short), rel=0.02)


def test_hours_are_written_and_long_sentences_are_cut_into_two_line_cues():
    sentence = " ".join(["word"] * 60) + "."

    vtt = narration_to_webvtt(sentence, duration=3725.5)
    cues = _cues(vtt)

    assert "01:02:05.500" in vtt
    assert len(cues) > 1
    for block in vtt.split("\n\n")[1:]:
        lines = [line for line in block.split("\n")[2:] if line]
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)


def test_markup_characters_are_escaped():
    vtt = narration_to_webvtt("Tom & Jerry <run> --> away.", duration=2)

    assert "Tom &amp; Jerry &lt;run&gt; --&gt; away." in vtt
    _cues(vtt)


def test_empty_text_gives_a_valid_empty_track_and_bad_duration_is_refused():
    assert narration_to_webvtt("   ", duration=3) == "WEBVTT\n"
    with pytest.raises(ValueError, match="duration"):
        narration_to_webvtt("Hello.", duration=0)
