"""Sampling: exact presentation times, rotation, scaling, streaming, and every kind of bad input."""

from __future__ import annotations

import contextlib
import gc
import threading
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest

from shotseek.pipeline import video as video_module
from shotseek.pipeline.errors import VideoDecodeError, VideoOpenError
from shotseek.pipeline.video import FrameSampler, prefetch, probe, sample_frames
from tests.kit.footage import (
    STANDARD_SCENES,
    Scene,
    make_footage,
    read_index,
    standard_footage,
    vfr_times,
    video_with_longer_audio,
    write_audio_only,
    write_video,
)


def check_samples_are_exact(footage, fps):
    """Each sample is the frame on screen at its target time, reported at its own PTS."""
    samples = list(sample_frames(footage.path, fps))
    times = footage.frame_times
    assert samples, "no frames sampled"
    for s in samples:
        idx = read_index(s.image)
        assert idx < len(times), f"barcode {idx} unreadable"
        # the reported time is that frame's presentation time (within half a source frame)
        gap = (times[idx + 1] - times[idx]) if idx + 1 < len(times) else times[idx] - times[idx - 1]
        assert abs(s.time - times[idx]) <= gap / 2, (s.index, s.time, idx, times[idx])
    # every target time in the video is covered by the frame on screen at that instant
    reported = {round(s.time, 3) for s in samples}
    k = 0
    while k / fps < times[-1]:
        on_screen = times[footage.frame_index_at(k / fps)]
        assert round(on_screen, 3) in reported, f"target {k / fps}s: frame at {on_screen} missing"
        k += 1
    assert [s.index for s in samples] == list(range(len(samples)))
    assert all(a.time < b.time for a, b in zip(samples, samples[1:]))
    return samples


@pytest.mark.parametrize("fps", [1.0, 2.0, 3.0])
def test_constant_rate_samples_carry_exact_presentation_times(standard_video, fps):
    samples = check_samples_are_exact(standard_video, fps)
    assert len(samples) == pytest.approx(standard_video.duration * fps, abs=1)


def test_variable_frame_rate_times_come_from_pts_not_frame_counting(footage_dir):
    times = vfr_times(12.0)
    footage = make_footage(
        footage_dir / "vfr.mp4", [Scene("cyan", "star", 12.0)], frame_times=times, barcode=True
    )
    samples = check_samples_are_exact(footage, 2.0)
    # the classic mistake, index / average fps, is far off on this file: the test can tell
    average_fps = (len(times) - 1) / times[-1]
    naive_error = max(abs(read_index(s.image) / average_fps - s.time) for s in samples)
    assert naive_error > 0.5


def test_sampling_above_the_source_rate_does_not_repeat_frames(footage_dir):
    footage = make_footage(
        footage_dir / "slow.mp4", [Scene("red", "circle", 5.0)], fps=2.0, barcode=True
    )
    samples = list(sample_frames(footage.path, 3.0))
    indices = [read_index(s.image) for s in samples]
    assert indices == sorted(set(indices)) == list(range(10))


def test_rotation_metadata_is_applied(footage_dir):
    img = np.full((180, 320, 3), 40, np.uint8)
    img[:30, :30] = (255, 0, 0)  # a red mark in the coded top-left corner
    path = footage_dir / "rotated.mp4"
    write_video(path, [(img, i / 10) for i in range(10)], rotation=90)
    info = probe(path)
    assert (info.width, info.height, info.rotation) == (180, 320, 90)
    frame = next(iter(sample_frames(path, 2.0)))
    assert frame.image.shape == (320, 180, 3)
    # 90 degrees counter-clockwise moves the top-left corner to the bottom-left
    assert frame.image[-10:, :10, 0].mean() > 200 and frame.image[-10:, :10, 1].mean() < 60
    assert frame.image[:10, :10, 0].mean() < 100


def test_frames_are_scaled_to_the_configured_short_side(standard_video):
    frame = next(iter(sample_frames(standard_video.path, 1.0, short_side=90)))
    assert frame.image.shape == (90, 160, 3)
    full = next(iter(sample_frames(standard_video.path, 1.0, short_side=0)))
    assert full.image.shape == (180, 320, 3)


@pytest.mark.parametrize("kind", ["one GOP", "variable rate", "all-intra"])
def test_frames_at_gives_the_sampled_frames_decoding_on_between_near_times(
    kind, standard_video, footage_dir, monkeypatch
):
    # Thumbnails and a shot's frames for the VLM are read back with frames_at: each must be
    # exactly the frame sampled at its time, whether reached by a seek or by decoding on.
    from shotseek.pipeline import video

    if kind == "one GOP":
        path = standard_video.path
    else:
        times = vfr_times(8.0) if kind == "variable rate" else None
        path = make_footage(
            footage_dir / f"frames-at-{kind}.mp4",
            [Scene("cyan", "star", 8.0, velocity=(0.05, 0.0))],
            frame_times=times,
            barcode=True,
            keyint=1 if kind == "all-intra" else 0,
        ).path
    seeks = []
    open_container = video._open_container

    class Counting:  # the container, with its seeks counted
        def __init__(self, path):
            self._container = open_container(path)

        def __getattr__(self, name):
            return getattr(self._container, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._container.close()

        def seek(self, *args, **kwargs):
            seeks.append(args)
            return self._container.seek(*args, **kwargs)

    samples = list(sample_frames(path, 2.0, short_side=0))
    monkeypatch.setattr(video, "_open_container", Counting)
    wanted = [s.time for s in samples[3::2]] + [samples[5].time, samples[0].time]
    images = video.frames_at(path, wanted, short_side=0)
    sampled = {s.time: read_index(s.image) for s in samples}
    assert [read_index(image) for image in images] == [sampled[t] for t in wanted]
    if kind == "all-intra":  # every frame a keyframe: a seek costs one frame, always taken
        assert len(seeks) == len(set(wanted))
    else:  # one group of pictures: once its length is learnt, the next times are decoded on to
        assert len(seeks) <= 3 < len(set(wanted))


@pytest.mark.parametrize("rotation", [0, 90])
def test_samples_far_from_a_keyframe_bring_the_thumbnail_frames_at_reads_back(
    footage_dir, rotation
):
    # Indexing keeps these for the shots' keyframes instead of decoding them again: each must
    # be exactly what reading the frame back gives, at most the thumbnail width as displayed.
    import av

    from shotseek.pipeline.config import THUMBNAIL_IN_PASS_AFTER_KEY_S
    from shotseek.pipeline.video import frames_at

    path = make_footage(
        footage_dir / f"kept-thumbnails-{rotation}.mp4",
        [Scene("cyan", "star", 7.0, velocity=(0.05, 0.0))],
        keyint=25,  # at 10 fps: a keyframe every 2.5 s
        rotation=rotation,
    ).path
    with av.open(str(path)) as container:
        keys = [float(f.time) for f in container.decode(video=0) if f.key_frame]
    assert len(keys) >= 3
    samples = list(FrameSampler(path, 2.0, short_side=90, thumbnail_width=100))
    kept = [s for s in samples if s.thumbnail is not None]
    for sample in samples:
        after_key = sample.time - max(k for k in keys if k <= sample.time + 1e-6)
        assert (sample.thumbnail is not None) == (after_key >= THUMBNAIL_IN_PASS_AFTER_KEY_S)
    assert 0 < len(kept) < len(samples)
    read_back = frames_at(path, [s.time for s in kept], thumbnail_width=100)
    for sample, image in zip(kept, read_back):
        thumbnail = sample.thumbnail()
        assert np.array_equal(thumbnail, image)
        assert thumbnail.shape[1] == 100  # displayed width; the height keeps the aspect
        tall = rotation == 90
        assert thumbnail.shape[0] == (178 if tall else 56)
    assert all(s.thumbnail is None for s in FrameSampler(path, 2.0, short_side=90))


def test_probe_reports_duration_size_and_rate(standard_video):
    info = probe(standard_video.path)
    assert info.duration == pytest.approx(standard_video.duration, abs=0.15)
    assert (info.width, info.height) == (320, 180)
    assert info.average_fps == pytest.approx(10, rel=0.01)
    assert info.codec == "h264"


@pytest.mark.slow
def test_memory_stays_flat_while_sampling_a_long_file(footage_dir):
    scenes = [
        Scene(c, s, 22.5, velocity=(0.01, 0.0))
        for c, s in [
            ("red", "circle"),
            ("blue", "square"),
            ("white", "star"),
            ("orange", "triangle"),
        ]
    ]
    footage = make_footage(footage_dir / "long.mp4", scenes, fps=25.0, size=(640, 360))
    proc = psutil.Process()
    gc.collect()
    rss = []
    count = 0
    for _ in sample_frames(footage.path, 3.0, short_side=0):
        count += 1
        if count == 20 or count % 50 == 0:
            rss.append(proc.memory_info().rss)
    assert count == pytest.approx(footage.duration * 3, abs=1)
    # 270 frames of 640x360 RGB would be 187 MB if anything kept them (the bound is 40 MB)
    assert max(rss) - rss[0] < 40 * 2**20, [r // 2**20 for r in rss]


# --- bad input: every case is a VideoOpenError naming the file and the problem -------------


def _expect(path, exc_type, words):
    with pytest.raises(exc_type) as info:
        list(sample_frames(path, 2.0))
    message = str(info.value)
    assert str(path) in message
    assert words in message, message
    with pytest.raises(VideoOpenError):
        probe(path)


def test_missing_file(tmp_path):
    _expect(tmp_path / "nope.mp4", VideoOpenError, "no such file")


def test_folder_instead_of_file(tmp_path):
    _expect(tmp_path, VideoOpenError, "is a folder")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    _expect(path, VideoOpenError, "empty")


def test_text_file_is_not_a_video(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("shot list: scene 1, scene 2\n" * 20)
    _expect(path, VideoOpenError, "not a video")


def test_random_bytes_are_not_a_video(tmp_path):
    path = tmp_path / "noise.mov"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    _expect(path, VideoOpenError, "not a video")


def test_a_tag_that_is_not_text_does_not_stop_a_video_from_opening(tmp_path):
    # Cameras and editors write binary tags (artwork, vendor data) that are not UTF-8: the file
    # is still a video, with PyAV 18 (the lockfile's on Python 3.11) and 19 (on 3.12+) alike.
    path = tmp_path / "binary-tag.mp4"
    frames = [(np.full((64, 64, 3), 30 * i, np.uint8), i / 10) for i in range(8)]
    write_video(path, frames, metadata={"title": "TITLE-TO-BREAK"})
    data = path.read_bytes()
    at = data.index(b"TITLE-TO-BREAK")
    path.write_bytes(data[:at] + b"\xff\xfe\xfd" + data[at + 3 :])
    assert probe(path).width == 64
    assert [s.time for s in sample_frames(path, 2.0)] == [0.0, 0.5]


def test_audio_only_file_has_no_video_stream(tmp_path):
    path = tmp_path / "tone.wav"
    write_audio_only(path)
    _expect(path, VideoOpenError, "no video stream (it holds audio)")


def test_video_without_frames_has_zero_duration(tmp_path):
    path = tmp_path / "hollow.mp4"
    write_video(path, [])
    with pytest.raises(VideoOpenError) as info:
        list(sample_frames(path, 2.0))
    assert str(path) in str(info.value)
    assert "zero duration" in str(info.value)


def test_truncated_file_without_index_cannot_be_opened(tmp_path):
    footage = make_footage(tmp_path / "cut.mp4", [STANDARD_SCENES[0]])
    data = footage.path.read_bytes()
    footage.path.write_bytes(data[: len(data) * 6 // 10])  # the moov index was at the end
    _expect(footage.path, VideoOpenError, "not a video file FFmpeg can read")


def test_truncated_file_is_detected_while_sampling(tmp_path):
    footage = make_footage(
        tmp_path / "cut_fast.mp4", [STANDARD_SCENES[0], STANDARD_SCENES[1]], faststart=True
    )
    data = footage.path.read_bytes()
    footage.path.write_bytes(data[: len(data) // 2])
    # The data ends inside a packet: one FFmpeg thread reports that packet, frame threads
    # report it at the flush or conceal it. Whatever the threads, the same words and time.
    said = set()
    for threads in (0, 1, 2, 4):
        with pytest.raises(VideoDecodeError) as info:
            list(sample_frames(footage.path, 2.0, threads=threads))
        said.add(str(info.value))
    (reason,) = said
    assert reason.startswith(f"{footage.path}: is truncated: its frames stop at 00:00:04")
    assert "re-copy" in reason


@pytest.mark.parametrize(
    ("suffix", "audio"), [("mkv", "flac"), ("mp4", "aac"), ("mkv", "pcm_s16le")]
)
def test_audio_that_outlasts_the_picture_is_not_called_truncation(tmp_path, suffix, audio):
    """1 s of video with 4 s of sound: in Matroska the video stream has no duration of its own,
    and the container's (the sound's) once stood in for it: "truncated", refused."""
    path = tmp_path / f"short_picture.{suffix}"
    video_with_longer_audio(path, video_seconds=1.0, audio_seconds=4.0, audio=audio)
    info = probe(path)
    assert info.duration == pytest.approx(1.0, abs=0.05)
    samples = list(sample_frames(path, 2.0))
    assert len(samples) == 2 and samples[-1].time < 1.0  # two samples a second, no error


def test_a_container_duration_with_other_streams_is_not_taken_for_the_video_s():
    from types import SimpleNamespace

    video = SimpleNamespace(duration=None, time_base=None, metadata={})
    audio = SimpleNamespace(duration=None, time_base=None, metadata={})
    both = SimpleNamespace(duration=4_000_000, streams=[video, audio])
    assert video_module._header_duration(both, video) == (4.0, False)
    alone = SimpleNamespace(duration=4_000_000, streams=[video])
    assert video_module._header_duration(alone, video) == (4.0, True)
    tagged = SimpleNamespace(duration=None, time_base=None, metadata={"DURATION": "00:00:01.5"})
    assert video_module._header_duration(both, tagged) == (1.5, True)


def test_a_file_corrupt_in_the_middle_is_not_called_truncated(tmp_path):
    footage = make_footage(
        tmp_path / "bad.mp4", [STANDARD_SCENES[0], STANDARD_SCENES[1]], faststart=True
    )
    data = bytearray(footage.path.read_bytes())
    third = len(data) // 3
    data[third : third + 4000] = np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes()
    footage.path.write_bytes(bytes(data))
    for threads in (0, 1):
        with pytest.raises(VideoDecodeError, match="is corrupt: decoding failed at 00:00:0"):
            list(sample_frames(footage.path, 2.0, threads=threads))


def test_prefetch_keeps_order_raises_where_it_failed_and_stops_with_its_consumer():
    assert list(prefetch(iter(range(100)), depth=3, name="t")) == list(range(100))

    def broken():
        yield 1
        raise VideoOpenError(Path("x.mp4"), "is corrupt")

    got = []
    with pytest.raises(VideoOpenError, match="corrupt"):
        for item in prefetch(broken(), depth=2, name="t"):
            got.append(item)
    assert got == [1]

    produced, closed = [], []

    def endless():
        try:
            for k in range(10**9):
                produced.append(k)
                yield k
        finally:
            closed.append(True)

    stream = prefetch(endless(), depth=2, name="t")
    assert [next(stream) for _ in range(3)] == [0, 1, 2]
    stream.close()  # the consumer stops: the producer stops too and its source is closed
    assert closed == [True] and len(produced) <= 3 + 2 + 2


def test_sampling_decodes_on_a_thread_of_its_own_that_ends_with_its_consumer(tmp_path, monkeypatch):
    # FFmpeg decodes ahead on a "shotseek-decode" thread while the sampler's own thread
    # converts and watches; a consumer that stops early leaves that thread ended and the file
    # closed (the container closes only after the thread is joined).
    footage = standard_footage(tmp_path / "v.mp4")
    process = psutil.Process()
    before = process.num_fds()

    def decoding() -> bool:
        return any(t.name == "shotseek-decode" for t in threading.enumerate())

    # a decoding thread still running when its container closes would read freed memory
    opened = video_module._open_container
    decoding_at_close: list[bool] = []

    @contextlib.contextmanager
    def watched(path):
        with opened(path) as container:
            try:
                yield container
            finally:
                decoding_at_close.append(decoding())

    monkeypatch.setattr(video_module, "_open_container", watched)
    samples = sample_frames(footage.path, 2.0)
    first = next(samples)
    assert first.index == 0 and decoding()
    samples.close()
    assert not decoding() and process.num_fds() == before
    assert decoding_at_close[-1] is False
    full = [f.time for f in sample_frames(footage.path, 2.0)]
    assert full[0] == first.time and not decoding()


def test_sampling_without_decoding_ahead_decodes_on_its_own_thread_the_same_frames(tmp_path):
    # ahead=0 (a CPU whose cores the model's workers fill): no "shotseek-decode" thread, the
    # same samples to the pixel and the same frames to the watcher, and an early stop closes
    # the file.
    footage = standard_footage(tmp_path / "v.mp4")
    process = psutil.Process()
    before = process.num_fds()

    class Watcher:
        def __init__(self) -> None:
            self.times: list[float] = []
            self.ahead: list[bool] = []  # whether a decoding-ahead thread ran, frame by frame

        def analysis_size(self, width: int, height: int) -> tuple[int, int]:
            return 32, 18

        def feed(self, time: float, image: np.ndarray) -> None:
            self.ahead.append(any(t.name == "shotseek-decode" for t in threading.enumerate()))
            self.times.append(time)

    runs = {}
    for ahead in (0, 8):
        watcher = Watcher()
        samples = list(FrameSampler(footage.path, 2.0, short_side=90, ahead=ahead, watcher=watcher))
        runs[ahead] = ([s.time for s in samples], [s.image for s in samples], watcher.times)
        assert any(watcher.ahead) == bool(ahead)
    (times, images, watched), (times8, images8, watched8) = runs[0], runs[8]
    assert times == times8 and watched == watched8 and len(watched) == len(footage.frame_times)
    assert all(np.array_equal(a, b) for a, b in zip(images, images8, strict=True))
    samples = iter(FrameSampler(footage.path, 2.0, short_side=90, ahead=0))
    next(samples)
    samples.close()
    assert process.num_fds() == before


@pytest.mark.parametrize(
    ("plane", "size"),
    [
        ((720, 1280), (160, 90)),
        ((360, 640), (160, 90)),
        ((1080, 1920), (160, 90)),
        ((576, 720), (160, 128)),
        ((288, 360), (160, 128)),
        ((90, 160), (160, 90)),
    ],
)
def test_the_cut_detector_s_copies_are_point_sampled_as_opencv_does(plane, size):
    # The strided view taken where the sizes divide (720p, 1080p and their chroma) must pick
    # OpenCV's pixels, or the cuts found would depend on the footage's size.
    pixels = np.random.default_rng(plane[0]).integers(0, 256, plane, dtype=np.uint8)
    expected = cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST)
    np.testing.assert_array_equal(video_module._point_sampled(pixels, size), expected)
