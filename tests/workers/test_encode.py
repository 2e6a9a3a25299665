import struct
import subprocess

import av
import numpy as np
import pytest
from PIL import Image

from workers.engines.base import GenerationCanceled
from workers.media.encode import EncodeError, encode_frames, ffmpeg_exe, write_thumbnail
from workers.media.probe import faststart, probe

W, H = 128, 72


def _moving_frames(n: int, width: int = W, height: int = H):
    """A bright square moving right over a gradient: easy to encode, different every frame."""
    base = np.zeros((height, width, 3), dtype=np.uint8)
    base[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    for i in range(n):
        frame = base.copy()
        x = 4 + 3 * i
        frame[20:40, x : x + 20] = (255, 200, 40)
        yield frame


def _decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_encoder_output_decodes_to_same_frame_count(tmp_path):
    path = tmp_path / "out.mp4"

    written = encode_frames(_moving_frames(10), path=path, width=W, height=H, fps=7)

    assert written == 10
    assert len(_decoded(path)) == 10


def test_encoder_writes_browser_playable_h264(tmp_path):
    path = tmp_path / "out.mp4"

    encode_frames(_moving_frames(8), path=path, width=W, height=H, fps=8)
    info = probe(path)

    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (W, H)
    assert info.fps == pytest.approx(8)
    assert info.num_frames == 8
    assert info.duration == pytest.approx(1.0, abs=0.01)
    assert not info.has_audio and info.audio_codec is None
    assert faststart(path)


def test_encoder_keeps_colours(tmp_path):
    path = tmp_path / "out.mp4"
    colour = np.array([200, 40, 160], dtype=np.uint8)
    frames = [np.tile(colour, (H, W, 1)) for _ in range(3)]

    encode_frames(frames, path=path, width=W, height=H, fps=7)

    decoded = _decoded(path)[0].astype(np.int16)
    assert np.abs(decoded[H // 2, W // 2] - colour).max() <= 4


def test_encoder_reports_each_written_frame(tmp_path):
    seen = []

    encode_frames(
        _moving_frames(5), path=tmp_path / "o.mp4", width=W, height=H, fps=7, on_frame=seen.append
    )

    assert seen == [1, 2, 3, 4, 5]


def test_cancel_mid_stream_leaves_no_file(tmp_path):
    def frames():
        yield from _moving_frames(4)
        raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        encode_frames(frames(), path=tmp_path / "out.mp4", width=W, height=H, fps=7)

    assert list(tmp_path.iterdir()) == []


def test_failed_encode_keeps_an_existing_file_untouched(tmp_path):
    path = tmp_path / "out.mp4"
    path.write_bytes(b"previous video")

    def frames():
        yield from _moving_frames(2)
        raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        encode_frames(frames(), path=path, width=W, height=H, fps=7)

    assert path.read_bytes() == b"previous video"
    assert list(tmp_path.iterdir()) == [path]


def test_cancel_closes_the_frame_generator(tmp_path):
    closed = []

    def frames():
        try:
            yield from _moving_frames(10)
        finally:
            closed.append(True)

    def on_frame(n):
        if n == 3:
            raise GenerationCanceled

    with pytest.raises(GenerationCanceled):
        encode_frames(
            frames(), path=tmp_path / "o.mp4", width=W, height=H, fps=7, on_frame=on_frame
        )

    assert closed == [True]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("size", [(127, 72), (128, 71), (0, 72)])
def test_odd_or_empty_sizes_are_rejected(tmp_path, size):
    width, height = size

    with pytest.raises(ValueError, match="even"):
        encode_frames(
            _moving_frames(2, W, H), path=tmp_path / "o.mp4", width=width, height=height, fps=7
        )

    assert list(tmp_path.iterdir()) == []


def test_frame_of_the_wrong_size_is_rejected_and_leaves_no_file(tmp_path):
    frames = [np.zeros((H, W, 3), np.uint8), np.zeros((H, W + 2, 3), np.uint8)]

    with pytest.raises(ValueError, match="frame 2"):
        encode_frames(frames, path=tmp_path / "o.mp4", width=W, height=H, fps=7)

    assert list(tmp_path.iterdir()) == []


def test_no_frames_is_rejected_and_leaves_no_file(tmp_path):
    with pytest.raises(ValueError, match="no frames"):
        encode_frames([], path=tmp_path / "o.mp4", width=W, height=H, fps=7)

    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_failure_surfaces_its_stderr(tmp_path):
    with pytest.raises(EncodeError, match="preset"):
        encode_frames(
            _moving_frames(3), path=tmp_path / "o.mp4", width=W, height=H, fps=7, preset="bogus"
        )

    assert list(tmp_path.iterdir()) == []


def test_ffmpeg_binary_runs():
    result = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, check=True)

    assert b"ffmpeg version" in result.stdout


def test_thumbnail_is_a_jpeg_no_wider_than_max_width_with_aspect_kept(tmp_path):
    frame = next(_moving_frames(1, 1280, 720))
    path = tmp_path / "thumb.jpg"

    write_thumbnail(frame, path, max_width=640)

    with Image.open(path) as im:
        assert (im.format, im.size) == ("JPEG", (640, 360))


def test_small_thumbnail_is_not_upscaled(tmp_path):
    path = tmp_path / "thumb.jpg"

    write_thumbnail(next(_moving_frames(1)), path)

    with Image.open(path) as im:
        assert im.size == (W, H)
    assert list(tmp_path.iterdir()) == [path]


def _box(kind: bytes, payload: bytes = b"", large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        ([_box(b"ftyp", b"isom"), _box(b"moov", b"x" * 20), _box(b"mdat", b"y" * 50)], True),
        ([_box(b"ftyp", b"isom"), _box(b"mdat", b"y" * 50), _box(b"moov", b"x" * 20)], False),
        ([_box(b"ftyp", b"isom"), _box(b"free"), _box(b"mdat", b"y" * 9, large=True)], False),
        ([_box(b"ftyp", b"isom"), _box(b"wide", large=True), _box(b"moov")], True),
        ([_box(b"ftyp", b"isom")], False),
    ],
)
def test_faststart_reads_top_level_box_order(tmp_path, boxes, expected):
    path = tmp_path / "boxes.mp4"
    path.write_bytes(b"".join(boxes))

    assert faststart(path) is expected


def test_probe_rejects_a_file_without_video(tmp_path):
    path = tmp_path / "silence.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 800), np.int16), format="s16", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)

    with pytest.raises(ValueError, match="no video"):
        probe(path)
