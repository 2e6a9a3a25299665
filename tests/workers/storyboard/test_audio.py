"""Narration audio: probing by content, upload checks, and espeak-ng speech."""

from __future__ import annotations

import subprocess

import pytest

from tests.workers.storyboard.media_files import write_clip, write_tone
from workers.media.encode import ffmpeg_exe
from workers.storyboard import audio
from workers.storyboard.audio import (
    InvalidAudioError,
    TTSUnavailable,
    probe_audio,
    synthesize_speech,
    tts_available,
    validate_narration,
)

MB = 1_000_000


def _ffmpeg(*args) -> None:
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *map(str, args)], check=True
    )


@pytest.fixture
def tone(tmp_path):
    return write_tone(tmp_path / "tone.wav", seconds=2.0, rate=22_050)


def test_probe_reads_a_wav(tone):
    info = probe_audio(tone)

    assert info.duration == pytest.approx(2.0, abs=1e-3)
    assert (info.codec, info.channels, info.sample_rate, info.container) == (
        "pcm_s16le",
        1,
        22_050,
        "wav",
    )
    assert not info.has_video


@pytest.mark.parametrize(
    ("name", "codec_args", "container", "codec"),
    [
        ("voice.mp3", ["-c:a", "libmp3lame"], "mp3", "mp3"),
        ("voice.m4a", ["-c:a", "aac"], "m4a", "aac"),
        ("voice.ogg", ["-c:a", "libvorbis"], "ogg", "vorbis"),
    ],
)
def test_mp3_m4a_and_ogg_uploads_are_accepted(tmp_path, tone, name, codec_args, container, codec):
    path = tmp_path / name
    _ffmpeg("-i", tone, *codec_args, path)

    info = validate_narration(path, max_bytes=5 * MB, max_seconds=60)

    assert (info.container, info.codec) == (container, codec)
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_the_name_does_not_matter_the_content_does(tmp_path, tone):
    disguised = tmp_path / "voice.txt"
    disguised.write_bytes(tone.read_bytes())
    fake = tmp_path / "voice.mp3"
    fake.write_bytes(b"ID3 this is not really an mp3 " * 50)

    assert validate_narration(disguised, max_bytes=MB, max_seconds=60).container == "wav"
    with pytest.raises(InvalidAudioError, match="voice.mp3"):
        validate_narration(fake, max_bytes=MB, max_seconds=60)


def test_a_video_without_sound_is_not_audio(tmp_path):
    clip = tmp_path / "clip.mp4"
    write_clip(clip)

    with pytest.raises(ValueError, match="has no audio stream"):
        probe_audio(clip)


def test_a_video_with_sound_is_refused_as_narration(tmp_path, tone):
    clip = tmp_path / "clip.mp4"
    write_clip(clip)
    both = tmp_path / "both.mp4"
    _ffmpeg("-i", clip, "-i", tone, "-c:v", "copy", "-c:a", "aac", "-shortest", both)

    with pytest.raises(InvalidAudioError, match="video stream"):
        validate_narration(both, max_bytes=5 * MB, max_seconds=60)


def test_a_truncated_file_is_refused(tmp_path, tone):
    mp3 = tmp_path / "voice.mp3"
    _ffmpeg("-i", tone, "-c:a", "libmp3lame", mp3)
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(mp3.read_bytes()[:200])

    with pytest.raises(InvalidAudioError):
        validate_narration(broken, max_bytes=MB, max_seconds=60)


def test_size_and_length_caps(tmp_path, tone):
    with pytest.raises(InvalidAudioError, match="limit is 0.0 MB"):
        validate_narration(tone, max_bytes=1000, max_seconds=60)
    with pytest.raises(InvalidAudioError, match="lasts 2.0 s; the limit is 1.5 s"):
        validate_narration(tone, max_bytes=MB, max_seconds=1.5)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(InvalidAudioError, match="empty"):
        validate_narration(empty, max_bytes=MB, max_seconds=60)


def test_without_espeak_tts_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)

    assert not tts_available()
    with pytest.raises(TTSUnavailable, match="upload the narration as audio"):
        synthesize_speech("Hello.", tmp_path / "voice.wav")
    assert list(tmp_path.iterdir()) == []


needs_espeak = pytest.mark.skipif(
    not tts_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)"
)


@needs_espeak
def test_speech_is_synthesized_to_a_wav(tmp_path):
    out = tmp_path / "voice.wav"

    duration = synthesize_speech(
        "-- Once upon a time, a small robot learned to paint the sky.", out, words_per_minute=180
    )

    info = probe_audio(out)
    assert info.container == "wav"
    assert info.duration == pytest.approx(duration)
    assert 1.5 < duration < 10
    assert list(tmp_path.iterdir()) == [out]


@needs_espeak
def test_speaking_slower_takes_longer(tmp_path):
    text = "The lighthouse keeper counted the ships every night."

    slow = synthesize_speech(text, tmp_path / "slow.wav", words_per_minute=100)
    fast = synthesize_speech(text, tmp_path / "fast.wav", words_per_minute=250)

    assert slow > fast * 1.5


@needs_espeak
def test_unknown_voice_and_empty_text_are_refused_without_leftovers(tmp_path):
    with pytest.raises(RuntimeError, match="espeak-ng could not speak"):
        synthesize_speech("Hello.", tmp_path / "voice.wav", voice="xx-nowhere")
    with pytest.raises(ValueError, match="no text"):
        synthesize_speech("  \n ", tmp_path / "voice.wav")
    assert list(tmp_path.iterdir()) == []
