"""Open, validate and sample video frames with exact presentation times.

Times come from each decoded frame's presentation timestamp (PTS × time base), measured from the
stream's start, never from ``frame_index / average_fps``: that classic shortcut drifts on
variable-frame-rate footage (phones, screen recordings) and on edited files with gaps.

Sampling streams: FFmpeg decodes a few frames ahead on a thread of its own (``DECODE_AHEAD_FRAMES``
in config; none where the model's workers fill the cores), only sampled frames are
colour-converted (and scaled in the same step), so a three-hour file costs no more memory than a
three-second one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

import av
import av.error
import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from shotseek.pipeline.config import DECODE_AHEAD_FRAMES, THUMBNAIL_IN_PASS_AFTER_KEY_S
from shotseek.pipeline.errors import VideoDecodeError, VideoOpenError
from shotseek.pipeline.models import VideoInfo
from shotseek.pipeline.timecode import SourceClock, clock_for, format_timecode

log = logging.getLogger(__name__)
T = TypeVar("T")

_EPS = 1e-6
#: How files are opened: PyAV before 19 decodes container metadata as strict UTF-8 unless told
#: to drop bad bytes (a file with a binary tag would not open); 19 (the lockfile's on Python
#: 3.12+) escapes such bytes itself and no longer takes the option.
_OPEN_OPTIONS = {"metadata_errors": "ignore"} if int(av.__version__.split(".")[0]) < 19 else {}
#: Decoding may stop this much before the header's duration without the file being truncated
#: (last-frame duration, audio longer than video); it is at least two frame intervals.
TRUNCATION_TOLERANCE_S = 1.0


@dataclass(frozen=True, slots=True)
class SampledFrame:
    """One sampled frame: RGB pixels as displayed (rotation and pixel aspect applied)."""

    index: int
    """0-based number of this sample."""
    time: float
    """Seconds from the first presented frame, from the frame's own presentation timestamp."""
    image: np.ndarray
    """H × W × 3 uint8 RGB."""
    thumbnail: Callable[[], np.ndarray] | None = None
    """With ``thumbnail_width``: the frame as a thumbnail (RGB, at most that wide as displayed),
    converted when called — only for a sample at least :data:`THUMBNAIL_IN_PASS_AFTER_KEY_S`
    after the keyframe before it, which would cost the most to decode again."""


def _open_container(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise VideoOpenError(path, "no such file; check the path")
    if path.is_dir():
        raise VideoOpenError(path, "is a folder, not a video file")
    if not path.is_file():
        raise VideoOpenError(path, "is not a regular file")
    if path.stat().st_size == 0:
        raise VideoOpenError(path, "is empty (0 bytes); the copy or download did not finish")
    try:
        return av.open(str(path), mode="r", **_OPEN_OPTIONS)
    except PermissionError as exc:
        raise VideoOpenError(path, "cannot be read: permission denied") from exc
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise VideoOpenError(
            path,
            f"is not a video file FFmpeg can read ({_reason(exc)}); if it is one, the file is "
            "damaged (an unfinished copy or download?)",
        ) from exc


def _decoded(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> Iterator[av.VideoFrame]:
    """The stream's frames, like ``container.decode(stream)``, except that an error on the last
    packet of the data (one cut short: a truncated file) or while flushing the decoder ends
    the frames instead of raising: the caller's truncation check then names the file
    truncated, and it does so whatever FFmpeg's threads (one thread reports the cut packet,
    frame threads report it at the flush or conceal it). An error earlier is raised."""
    packets = container.demux(stream)
    packet = next(packets, None)
    while packet is not None:
        following = next(packets, None)
        try:
            frames = packet.decode()
        except av.error.FFmpegError:
            if packet.size and following is not None and following.size:
                raise
            return
        yield from frames
        packet = following


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0].strip() or type(exc).__name__


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    if not container.streams:
        raise VideoOpenError(
            path, "holds no streams at all: zero duration (an empty or unfinished recording?)"
        )
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        raise VideoOpenError(path, f"has no video stream (it holds {', '.join(kinds)})")
    return container.streams.video[0]


def _header_duration(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> tuple[float, bool]:
    """The duration the header gives, and whether it is the video stream's own: the stream's,
    else its Matroska/WebM track tag (``DURATION``, written by FFmpeg and mkvmerge), else the
    container's, which is the longest stream's: 1 s of picture with 4 s of sound reads as 4 s
    (and once passed for a truncated video)."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base), True
    tagged = _tag_seconds(stream.metadata.get("DURATION") or stream.metadata.get("duration"))
    if tagged:
        return tagged, True
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base, len(container.streams) == 1
    return 0.0, True


def _tag_seconds(text: str | None) -> float:
    """Seconds from a track tag such as ``00:00:01.000000000``; 0 if it is not one."""
    try:
        h, m, s = (text or "").strip().split(":")
        seconds = int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return 0.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 0.0


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[int, int]:
    """Pixel size with non-square pixels (anamorphic DV, DVB) stretched to square ones."""
    if sar is not None and sar > 0 and sar != 1:
        return max(2, round(width * sar)), height
    return width, height


def _scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Scale (width, height) so the shorter side is at most ``short_side``; even numbers."""
    short = min(width, height)
    if short_side <= 0 or short <= short_side:
        return width, height
    return _scaled(width, height, short_side / short)


def _scaled(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


#: What every current browser's <video> plays (Chromium, Firefox, Safari): codecs by container,
#: and H.264 only in 8-bit 4:2:0 (Chromium refuses 10-bit and 4:2:2 H.264).
_BROWSER_VIDEO = {"mp4": {"h264", "vp9", "av1"}, "webm": {"vp8", "vp9", "av1"}}
_BROWSER_AUDIO = {"mp4": {"aac", "mp3", "opus", "flac"}, "webm": {"opus", "vorbis"}}
_BROWSER_H264_PIXELS = {"yuv420p", "yuvj420p"}


def browser_playable(path: str | Path) -> bool:
    """Whether a web browser's <video> plays the file as it is (else it needs a proxy: ProRes,
    DNxHD, MPEG-2, 10-bit H.264, HEVC, PCM sound, an AVI or MXF)."""
    path = Path(path)
    with _open_container(path) as container:
        names = container.format.name.split(",")
        kind = "webm" if path.suffix.lower() == ".webm" and "webm" in names else None
        if {"mp4", "mov"} & set(names):
            kind = "mp4"
        if kind is None:
            return False
        video = _video_stream(container, path).codec_context
        if video.name not in _BROWSER_VIDEO[kind]:
            return False
        if video.name == "h264" and video.pix_fmt not in _BROWSER_H264_PIXELS:
            return False
        return all(a.codec_context.name in _BROWSER_AUDIO[kind] for a in container.streams.audio)


def display_rotation(frame: av.VideoFrame) -> int:
    """Degrees counter-clockwise to turn the decoded picture for display (0, 90, 180, 270)."""
    try:
        degrees = frame.rotation
    except Exception:  # pragma: no cover - malformed side data
        return 0
    # Only right angles are meaningful for footage; snap anything else to the nearest one.
    return int(round((degrees or 0) / 90.0)) * 90 % 360


def _output_size(
    frame: av.VideoFrame, stream: av.video.VideoStream, short_side: int
) -> tuple[int, int]:
    w, h = _display_size(frame.width, frame.height, stream.sample_aspect_ratio)
    return _scaled_size(w, h, short_side)


def _thumbnail_size(
    frame: av.VideoFrame, stream: av.video.VideoStream, rotation: int, width: int
) -> tuple[int, int]:
    """The size to convert a frame to so that, displayed (rotation applied), it is at most
    ``width`` wide; never larger than it is."""
    w, h = _display_size(frame.width, frame.height, stream.sample_aspect_ratio)
    shown = h if rotation % 180 else w
    return (w, h) if shown <= width else _scaled(w, h, width / shown)


def _to_rgb(
    frame: av.VideoFrame, size: tuple[int, int], rotation: int, reformatter: VideoReformatter
) -> np.ndarray:
    """Colour-convert and scale in one step, then apply the display rotation. One
    ``reformatter`` for the frames of one stream keeps FFmpeg's scaler set up between them
    (``frame.to_ndarray(width=…)`` builds a new one each time: twice the cost, same pixels)."""
    rgb = reformatter.reformat(
        frame, format="rgb24", width=size[0], height=size[1], interpolation="AREA"
    ).to_ndarray()
    if rotation:
        rgb = np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))
    return rgb


def probe(path: str | Path) -> VideoInfo:
    """Validate a video file and read what its header says, decoding just its first frame.

    Raises :class:`VideoOpenError` naming the file and the problem: missing, a folder, empty, not
    a video, no video stream, zero duration, or no decodable frame.
    """
    path = Path(path)
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        duration, own = _header_duration(container, stream)
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                path, f"is corrupt: its first frame cannot be decoded ({_reason(exc)})"
            ) from exc
        if first is None:
            raise VideoOpenError(path, "has zero duration: its video stream holds no frames")
        rotation = display_rotation(first)
        width, height = _display_size(first.width, first.height, stream.sample_aspect_ratio)
        if rotation in (90, 270):
            width, height = height, width
        if duration <= 0:
            # No duration in the header (raw streams, some MKVs): it is learnt while sampling.
            log.debug("%s: no duration in the header", path)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=str(path),
            size_bytes=path.stat().st_size,
            container=container.format.name,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            rotation=rotation,
            duration=duration,
            duration_is_video=own,
            average_fps=float(rate) if rate else None,
            frame_count=stream.frames or None,
            clock=_clock(container, stream, duration),
        )


def _clock(
    container: av.container.InputContainer, stream: av.video.VideoStream, duration: float
) -> SourceClock | None:
    """How editors number the file's frames: its exact rate, and the start timecode of a
    QuickTime ``tmcd`` track, the video stream's or the container's ``timecode`` tag (MXF,
    Matroska). A rate the header does not give (raw streams): None."""
    average, base = stream.average_rate, stream.base_rate or stream.guessed_rate
    rate = average or base
    if not rate:
        return None
    tagged = [s.metadata for s in container.streams.data] + [stream.metadata, container.metadata]
    start = next(
        (value for tags in tagged for key, value in tags.items() if key.lower() == "timecode"),
        None,
    )
    # A constant rate's header gives it exactly (base_rate: r_frame_rate); the average, frames
    # over duration, misses it by a frame's duration in a short file (10 fps read 10.018).
    # An average further off (1%, and two frames over the whole file) is a variable rate's:
    # numbered at the average.
    slack = max(0.01 * float(base or 0), 2 / duration if duration > 0 else 0.0)
    variable = bool(base and average and abs(float(base) - float(average)) > slack)
    return clock_for(average if variable or not base else base, start, variable=variable)


class FrameWatcher(Protocol):
    """Sees every decoded frame, reduced to a small BGR picture (the cut detector)."""

    def analysis_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) to reduce frames of this stored size to."""
        ...

    def feed(self, time: float, image: np.ndarray) -> None:
        """The next frame in presentation order, and its presentation time."""
        ...


class FrameSampler:
    """Iterate to get the frames displayed at times 0, 1/fps, 2/fps, … with their exact times.

    For each target time the frame on screen at that instant is chosen (the last one presented at
    or before it), and its own presentation time is reported. A source frame is yielded at most
    once, so sampling above the source's rate does not duplicate frames. Frames are scaled so
    their shorter side is at most ``short_side`` pixels (0: no scaling).

    Every decoded frame (the decoder decodes them all to reach the samples) is also handed,
    reduced, to ``watcher`` when one is given; with ``thumbnail_width``, samples far from a
    keyframe can also be had as thumbnails (:attr:`SampledFrame.thumbnail`). Once iteration is
    over, :attr:`end_time` holds where the stream ends: the last frame's presentation time plus
    its display duration, never past the header's duration.

    ``ahead`` frames are decoded ahead on a thread of their own while this one converts,
    reduces and watches; with 0, on this thread (where other threads fill the cores, the
    hand-over of every frame costs them more than the overlap gains).

    Iterating raises :class:`VideoOpenError` before yielding anything when the file is unusable,
    and :class:`VideoDecodeError` when the data turns out truncated or corrupt part-way through.
    """

    def __init__(
        self,
        path: str | Path,
        fps: float = 2.0,
        *,
        short_side: int = 448,
        threads: int = 0,
        ahead: int = DECODE_AHEAD_FRAMES,
        watcher: FrameWatcher | None = None,
        thumbnail_width: int = 0,
    ) -> None:
        if not (fps > 0 and math.isfinite(fps)):
            raise ValueError(f"fps must be a positive number, not {fps}")
        self.path, self.fps, self.short_side, self.threads = Path(path), fps, short_side, threads
        self.ahead = ahead
        self.watcher, self.thumbnail_width = watcher, thumbnail_width
        self.end_time: float | None = None

    def __iter__(self) -> Iterator[SampledFrame]:
        path = self.path
        info = probe(path)
        interval = 1.0 / self.fps
        with _open_container(path) as container, contextlib.ExitStack() as ahead:
            stream = _video_stream(container, path)
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = self.threads
            # With self.ahead, FFmpeg decodes on a thread of its own while this one converts,
            # reduces and watches. Closed (a thread joined) before the container is.
            decoded: Iterator[av.VideoFrame] = _decoded(container, stream)
            if self.ahead:
                decoded = prefetch(decoded, self.ahead, name="shotseek-decode")
            decoded = ahead.enter_context(contextlib.closing(decoded))
            time_base = stream.time_base
            start_pts = stream.start_time
            nominal = 1.0 / info.average_fps if info.average_fps else 0.04

            size: tuple[int, int] | None = None
            watch_size: tuple[int, int] | None = None
            rotation = info.rotation
            next_target = 0.0
            k = 0  # index of next_target
            prev: av.VideoFrame | None = None
            prev_time = 0.0
            prev_emitted = True
            last_time = -1.0
            shown_for = nominal  # display duration of the latest frame
            emitted = 0
            reformatter = VideoReformatter()  # for the samples
            watch_reformatter = VideoReformatter()  # for the watcher's small copies
            thumb_reformatter = VideoReformatter()  # for thumbnails
            thumb_size: tuple[int, int] | None = None
            key_time = 0.0  # the latest keyframe's time
            prev_key_time = 0.0  # the time of the keyframe before prev

            def emit(frame: av.VideoFrame, t: float, after_key: float) -> SampledFrame:
                nonlocal size, thumb_size, emitted
                if size is None:
                    size = _output_size(frame, stream, self.short_side)
                image = _to_rgb(frame, size, rotation, reformatter)
                thumbnail = None
                if self.thumbnail_width and after_key >= THUMBNAIL_IN_PASS_AFTER_KEY_S - _EPS:
                    thumb_size = thumb_size or _thumbnail_size(
                        frame, stream, rotation, self.thumbnail_width
                    )
                    thumbnail = partial(_to_rgb, frame, thumb_size, rotation, thumb_reformatter)
                sample = SampledFrame(index=emitted, time=t, image=image, thumbnail=thumbnail)
                emitted += 1
                return sample

            try:
                for frame in decoded:
                    if frame.pts is None:
                        # No timestamp: assume it follows the previous frame at the nominal rate.
                        t = last_time + nominal if last_time >= 0 else 0.0
                    else:
                        if start_pts is None:
                            start_pts = frame.pts
                        t = float((frame.pts - start_pts) * time_base)
                    if t < -_EPS:
                        continue  # pre-roll before the first presented frame (edit lists)
                    t = max(t, 0.0)
                    if t > last_time:
                        if last_time >= 0:
                            shown_for = t - last_time
                        if frame.duration and time_base is not None:
                            shown_for = float(frame.duration * time_base)
                    last_time = max(last_time, t)
                    if frame.key_frame:
                        key_time = t
                    if self.watcher is not None:
                        watch_size = watch_size or self.watcher.analysis_size(
                            frame.width, frame.height
                        )
                        self.watcher.feed(t, _to_bgr_small(frame, watch_size, watch_reformatter))
                    if prev is not None and t > next_target + _EPS:
                        # prev is on screen at next_target (prev_time <= next_target < t).
                        if not prev_emitted:
                            yield emit(prev, prev_time, prev_time - prev_key_time)
                        k = max(k + 1, math.ceil((t - _EPS) / interval))
                        next_target = k * interval
                        prev_emitted = True
                    if prev is None or t > prev_time or prev_emitted:
                        prev, prev_time, prev_emitted = frame, t, False
                        prev_key_time = key_time
            except av.error.FFmpegError as exc:
                reached = format_timecode(max(last_time, 0.0))
                raise VideoDecodeError(
                    path, f"is corrupt: decoding failed at {reached} ({_reason(exc)})"
                ) from exc

            if prev is None:
                raise VideoOpenError(path, "has zero duration: its video stream holds no frames")
            if not prev_emitted and next_target < prev_time + nominal - _EPS:
                # The last frame stays on screen for about one frame interval: it is sampled when
                # the next target time falls within that interval.
                yield emit(prev, prev_time, prev_time - prev_key_time)

            end = last_time + nominal
            tolerance = max(TRUNCATION_TOLERANCE_S, 2 * nominal)
            if info.duration_is_video and info.duration > 0 and end + tolerance < info.duration:
                raise VideoDecodeError(
                    path,
                    f"is truncated: its frames stop at {format_timecode(end)} but its header "
                    f"says {format_timecode(info.duration)}; re-copy or re-download the file",
                )
            self.end_time = stream_end(last_time, shown_for, info.duration)


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def prefetch(items: Iterable[T], depth: int, *, name: str) -> Iterator[T]:
    """Iterate ``items`` on a thread of its own (called ``name``), at most ``depth`` items
    ahead of the consumer.

    An error raised while producing is raised to the consumer at the point it happened; when
    the consumer stops early (an error of its own, a generator closed), the producer stops at
    its next item and ``items`` is closed on its thread.
    """
    ready: queue.Queue = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            put(_Failed(exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()


def stream_end(last_time: float, shown_for: float, header_duration: float) -> float:
    """Where the picture ends: the last frame's time plus how long it is shown, but never past
    the header's duration (which may include a last frame shown briefly, or audio) unless the
    header is plainly wrong (shorter than the frames themselves)."""
    end = last_time + max(shown_for, 0.0)
    if header_duration > last_time:
        end = min(end, header_duration)
    return end


def sample_frames(
    path: str | Path,
    fps: float = 2.0,
    *,
    short_side: int = 448,
    threads: int = 0,
) -> Iterator[SampledFrame]:
    """The samples of :class:`FrameSampler`, for callers that need nothing else."""
    return iter(FrameSampler(path, fps, short_side=short_side, threads=threads))


#: Pixel formats whose planes the frame watcher reads directly (8-bit Y, U, V planes).
_PLANAR_YUV = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})


def _plane(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's pixels as a (height × width) view, without copying."""
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


def _point_sampled(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``pixels`` point-sampled to ``size`` (width, height) as OpenCV's ``INTER_NEAREST`` does it
    (the pixel at the floor of each scaled coordinate); where the size divides the plane's, as
    it does for 720p and 1080p, a strided view instead: the same pixels, half the time."""
    height, width = pixels.shape
    if height % size[1] == 0 and width % size[0] == 0:
        return pixels[:: height // size[1], :: width // size[0]]
    return cv2.resize(pixels, size, interpolation=cv2.INTER_NEAREST)


def _to_bgr_small(
    frame: av.VideoFrame, size: tuple[int, int], reformatter: VideoReformatter
) -> np.ndarray:
    """A cheap small BGR copy for the frame watcher: for planar 8-bit YUV, each plane is
    point-sampled to the small size and only those pixels are colour-converted (a fifth of the
    cost of scaling the whole frame); other formats (10-bit, NV12, RGB) go through FFmpeg's
    scaler, kept set up between frames by ``reformatter``."""
    if frame.format.name in _PLANAR_YUV:
        yuv = np.empty((size[1], size[0], 3), np.uint8)
        for channel, plane in enumerate(frame.planes):
            yuv[..., channel] = _point_sampled(_plane(plane), size)
        return cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    return reformatter.reformat(
        frame, format="bgr24", width=size[0], height=size[1], interpolation="FAST_BILINEAR"
    ).to_ndarray()


def frames_at(
    path: str | Path, times: list[float], *, short_side: int = 448, thumbnail_width: int = 0
) -> list[np.ndarray]:
    """The frames presented at ``times`` (times reported by :func:`sample_frames`), in order,
    scaled as :class:`FrameSampler` scales its samples, or with ``thumbnail_width`` as it
    scales their thumbnails.

    Each one is reached by seeking to the keyframe before it and decoding forward, so fetching
    a few frames of a long video costs a few GOPs, not a second pass over the file; a time
    less than :data:`DECODE_ON_GOP_SHARE` of a GOP ahead of the last frame decoded is reached by
    decoding on, which costs less than a seek is expected to.
    """
    path = Path(path)
    info = probe(path)
    found: dict[float, np.ndarray] = {}
    with _open_container(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        start_pts = stream.start_time
        if start_pts is None:
            start_pts = next((f.pts for f in container.decode(stream) if f.pts is not None), 0)
        size: tuple[int, int] | None = None
        gop = _GopLength()
        reformatter = VideoReformatter()
        frames: Iterator[av.VideoFrame] | None = None  # decoding in progress
        at = -math.inf  # the time of the last frame decoded
        try:
            for t in sorted(set(times)):
                if frames is None or not at < t - 1e-3 <= at + DECODE_ON_GOP_SHARE * gop.seconds:
                    container.seek(start_pts + int(t / time_base), stream=stream, backward=True)
                    frames = container.decode(stream)
                    gop.sought()
                for frame in frames:
                    if frame.pts is None:
                        continue
                    at = float((frame.pts - start_pts) * time_base)
                    gop.decoded(at, frame.key_frame)
                    if at >= t - 1e-3:
                        if size is None:
                            size = (
                                _thumbnail_size(frame, stream, info.rotation, thumbnail_width)
                                if thumbnail_width
                                else _output_size(frame, stream, short_side)
                            )
                        found[t] = _to_rgb(frame, size, info.rotation, reformatter)
                        break
                else:
                    frames = None  # the stream ended: the next time seeks
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                path, f"is corrupt: cannot read its frames back ({_reason(exc)})"
            ) from exc
    missing = [t for t in times if t not in found]
    if missing:
        raise VideoDecodeError(
            path, f"has no frame at {format_timecode(missing[0])}; was the file changed?"
        )
    return [found[t] for t in times]


#: :func:`frames_at` decodes on to a time at most this share of a GOP ahead rather than seek.
#: Decoding on d seconds costs d; a seek decodes from the keyframe before the time, half the
#: GOP it falls in on average, and restarts the decoder's threads: 0.5 in theory, 0.65 measured
#: best (100 times in 10 min of 720p H.264: 10.4 CPU-s against 15.6 seeking to each).
DECODE_ON_GOP_SHARE = 0.65


class _GopLength:
    """The length of the GOP a time falls in, learnt while decoding: over the intervals seen
    between consecutive keyframes, weighted by length (a time falls in a long GOP more often),
    else the longest run decoded since a keyframe (a lower bound). All-intra footage (every
    frame a keyframe) learns a GOP of one frame: it always seeks."""

    def __init__(self) -> None:
        self.intervals: list[float] = []
        self.longest = 0.0
        self.key: float | None = None  # the last keyframe decoded since the last seek

    def sought(self) -> None:
        self.key = None

    def decoded(self, time: float, keyframe: bool) -> None:
        if self.key is not None:
            if keyframe:
                self.intervals.append(time - self.key)
            self.longest = max(self.longest, time - self.key)
        if keyframe:
            self.key = time

    @property
    def seconds(self) -> float:
        if not self.intervals:
            return self.longest
        return sum(g * g for g in self.intervals) / sum(self.intervals)
