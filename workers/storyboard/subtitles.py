"""The narration text as a WebVTT subtitle track.

One cue per sentence, wrapped at 42 characters a line; a sentence longer than two lines is cut
between words into several cues. Cue times are proportional to the characters spoken: the track spans the whole
``duration``, each cue starts where the previous one ends, and a cue with twice the characters
stays up twice as long. That is close for TTS narration (espeak-ng speaks at a steady rate) and
a fair guess for an uploaded recording.
"""

from __future__ import annotations

import textwrap

from workers.storyboard.story import split_sentences

LINE_CHARS = 42  # the usual subtitle line length (a longer word keeps its own line)
CUE_LINES = 2


def narration_to_webvtt(text: str, *, duration: float) -> str:
    """A WebVTT document (``WEBVTT`` header, ``HH:MM:SS.mmm`` cues) for ``text`` over ``duration``.

    Text without words gives a valid track with no cues. ``ValueError`` when ``duration`` is
    not positive.
    """
    if not duration > 0:
        raise ValueError(f"duration must be positive, got {duration}")
    cues = [cue for sentence in split_sentences(text) for cue in _cues(sentence)]
    total_ms = round(duration * 1000)
    weights = [sum(len(line) for line in cue) for cue in cues]
    total_chars = sum(weights)

    blocks = ["WEBVTT", ""]
    done = 0
    start_ms = 0
    for index, cue in enumerate(cues, start=1):
        done += weights[index - 1]
        end_ms = round(total_ms * done / total_chars)
        end_ms = max(end_ms, start_ms + 1)  # a cue must not end before it starts
        lines = [_escape(line) for line in cue]
        blocks += [str(index), f"{_timestamp(start_ms)} --> {_timestamp(end_ms)}", *lines, ""]
        start_ms = end_ms
    return "\n".join(blocks) + ("\n" if cues else "")


def _cues(sentence: str) -> list[list[str]]:
    """``sentence`` as cues of at most ``CUE_LINES`` lines of about ``LINE_CHARS``."""
    lines = textwrap.wrap(sentence, width=LINE_CHARS, break_long_words=False)
    return [lines[i : i + CUE_LINES] for i in range(0, len(lines), CUE_LINES)]


def _escape(text: str) -> str:
    # WebVTT cue text may not hold a raw "&" or "<"; ">" is escaped so "-->" cannot appear.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _timestamp(ms: int) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"
