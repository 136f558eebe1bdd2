"""The decoding side of indexing one video, with no model in sight: what a worker process or a
Ray task imports (neither torch nor open_clip: a worker starts in well under a second).

:class:`Sampling` decodes a video once: it yields the samples to embed (still pictures left
out) while every decoded frame goes past the camera-cut detector, then says where each
sample's vector comes from (:class:`Sampled`). :func:`sample_rows` turns that into rows for
another process (one per image to embed, then one that describes the video), and
:func:`decode_in_process` is the loop of a local worker process that sends them back
(:mod:`shotseek.pipeline.parallel` drives it).
"""

from __future__ import annotations

import logging
import os
import pickle
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shotseek.pipeline import thumbnails
from shotseek.pipeline.config import (
    CPU_DECODE_AHEAD_FRAMES,
    CPU_DECODE_THREADS,
    DECODE_AHEAD_FRAMES,
    PROCESS_CHUNKS_AHEAD,
    PROCESS_ROWS,
    Settings,
    WorkerSettings,
)
from shotseek.pipeline.cuts import CutDetector
from shotseek.pipeline.errors import ShotseekError, VideoOpenError
from shotseek.pipeline.models import CameraBoundary, VideoInfo
from shotseek.pipeline.stills import StillFilter
from shotseek.pipeline.video import FrameSampler, frames_at, prefetch

if TYPE_CHECKING:
    from shotseek.pipeline.encoder import ClipEncoder

log = logging.getLogger(__name__)

#: A row a worker sends back: an image to embed (``pixels``, ``height``, ``width``, its
#: ``time``, its ``thumbnail`` JPEG or b"") or, with ``row`` -1, the video's description
#: (``meta``, pickled).
Row = dict[str, Any]


def sample_side(settings: Settings, encoder: ClipEncoder) -> int:
    """The shorter side sampled frames are decoded at: the setting, else the model's input."""
    return settings.frame_short_side or encoder.image_size


@dataclass(frozen=True)
class Decoding:
    """How FFmpeg decodes for one run (here or on Ray): its threads (0: FFmpeg's choice) and
    how many frames it decodes ahead on a thread of its own (0: on the sampler's thread)."""

    threads: int
    ahead: int

    @classmethod
    def for_model(
        cls, settings: Settings, model_on_cpu: bool, *, files_at_once: int = 1
    ) -> Decoding:
        """Where the model runs on the CPU its workers fill every core (a cluster's CPU actors
        fill their node's as a local run's workers do): ``CPU_DECODE_THREADS`` threads, since
        more only take turns with the workers at a cost of their own, and
        ``CPU_DECODE_AHEAD_FRAMES`` ahead, since handing each frame over costs the model more
        than the overlap gains. Elsewhere FFmpeg chooses (or, with several files decoding at
        once, each gets its share of the cores) and decodes ``DECODE_AHEAD_FRAMES`` ahead.
        ``SHOTSEEK_DECODE_THREADS`` sets the threads either way."""
        if model_on_cpu:
            threads, ahead = CPU_DECODE_THREADS, CPU_DECODE_AHEAD_FRAMES
        elif files_at_once > 1:
            threads, ahead = max(1, (os.cpu_count() or 1) // files_at_once), DECODE_AHEAD_FRAMES
        else:
            threads, ahead = 0, DECODE_AHEAD_FRAMES
        return cls(settings.decode_threads or threads, ahead)


@dataclass(frozen=True)
class Embedded:
    """What :func:`embed_frames` learnt of one video."""

    vectors: np.ndarray  # N × D, one per sample, in time order
    times: np.ndarray  # N sample times (seconds, presentation times of real frames)
    end_time: float  # where the stream ends
    cuts: list[CameraBoundary]  # camera boundaries found on every decoded frame
    kept: thumbnails.KeptThumbnails | None = None  # samples' thumbnails from the decoding pass


@dataclass(frozen=True)
class Sampled:
    """What decoding one video learnt, apart from the images: small, sent between machines."""

    times: np.ndarray  # every sample's time, in order
    source: np.ndarray  # per sample: the row of the embedded images whose vector it takes
    end_time: float
    cuts: list[CameraBoundary]
    extra_times: list[float]  # middle frames of camera shots that hold no sample

    def embedded(
        self,
        vectors: np.ndarray,
        extra_vectors: np.ndarray | None,
        kept: thumbnails.KeptThumbnails | None = None,
    ) -> Embedded:
        """The video's vectors in time order, from the embedded samples' and extra frames'."""
        vectors, times = vectors[self.source], self.times
        if self.extra_times and extra_vectors is not None:
            vectors = np.concatenate([vectors, extra_vectors])
            times = np.concatenate([times, self.extra_times])
            order = np.argsort(times, kind="stable")
            vectors, times = vectors[order], times[order]
        return Embedded(vectors, times, self.end_time, self.cuts, kept)


class Sampling:
    """The decoding side of indexing one video: :meth:`images` yields the samples to embed
    (still pictures left out) while every decoded frame goes past the cut detector; then
    :meth:`finish` says where each sample's vector comes from and which camera shots hold no
    sample, whose middle frames :meth:`extra_images` decodes.

    With ``keep``, each embedded sample far from a keyframe is also handed to it as a thumbnail
    (its time, RGB pixels at the thumbnail width): see
    :class:`~shotseek.pipeline.thumbnails.KeptThumbnails`."""

    def __init__(
        self,
        path: Path,
        info: VideoInfo,
        settings: Settings,
        side: int,
        decoding: Decoding,
        *,
        keep: Callable[[float, np.ndarray], None] | None = None,
    ) -> None:
        self.path, self.side, self.keep = path, side, keep
        self.detector = CutDetector(
            threshold=settings.cut_threshold,
            min_shot_seconds=settings.cut_min_shot_seconds,
            frame_rate=info.average_fps or 0.0,
        )
        self.sampler = FrameSampler(
            path,
            settings.fps,
            short_side=side,
            threads=decoding.threads,
            ahead=decoding.ahead,
            watcher=self.detector if self.detector.enabled else None,
            thumbnail_width=settings.thumbnail_width if keep is not None else 0,
        )
        self.stills = StillFilter(settings.still_threshold)
        self.times: list[float] = []
        self.source: list[int] = []

    def images(self) -> Iterator[np.ndarray]:
        embedded = -1
        for frame in self.sampler:
            self.times.append(frame.time)
            if self.stills.is_still(frame.image):
                self.source.append(embedded)
                continue
            embedded += 1
            self.source.append(embedded)
            if self.keep is not None and frame.thumbnail is not None:
                self.keep(frame.time, frame.thumbnail())
            yield frame.image

    def finish(self) -> Sampled:
        """After :meth:`images` is exhausted."""
        if not self.times or self.sampler.end_time is None:
            raise VideoOpenError(self.path, "yielded no frames to index")
        if self.stills.reused:
            log.info(
                "%s: %d of %d samples were still pictures (no model call)",
                self.path.name,
                self.stills.reused,
                len(self.times),
            )
        cuts = self.detector.finish()
        times = np.asarray(self.times)
        end = self.sampler.end_time
        extra = unsampled_shots(times, cuts, self.detector.times, end)
        return Sampled(times, np.asarray(self.source), end, cuts, extra)

    def extra_images(self, sampled: Sampled) -> list[np.ndarray]:
        if not sampled.extra_times:
            return []
        return frames_at(self.path, sampled.extra_times, short_side=self.side)


def unsampled_shots(
    sample_times: np.ndarray,
    cuts: list[CameraBoundary],
    frame_times: Sequence[float],
    end_time: float,
) -> list[float]:
    """The time of the middle frame of each camera shot that holds no sample (a shot shorter
    than the sampling interval), so that it too gets an embedding and can be found."""
    if not cuts:
        return []
    frames = np.asarray(frame_times)
    bounds = [0.0, *(c.time for c in cuts), end_time]
    picks = []
    for a, b in zip(bounds, bounds[1:]):
        lo = int(np.searchsorted(sample_times, a - 1e-6, side="left"))
        if lo < len(sample_times) and sample_times[lo] < b - 1e-6:
            continue  # a sample falls in this shot
        inside = frames[(frames >= a - 1e-6) & (frames < b - 1e-6)]
        if len(inside):
            picks.append(float(inside[len(inside) // 2]))
    return picks


# -- rows, for another process ------------------------------------------------------------


def sample_rows(
    item: dict[str, Any], settings_json: str, side: int, decoding: Decoding, where: str
) -> Iterator[Row]:
    """One file decoded on a worker (``where`` names it in an unexpected error): a row per
    image to embed, then the video's description."""
    settings = WorkerSettings.model_validate_json(settings_json).settings()
    video, path = int(item["video"]), Path(item["path"])
    base = {"video": video, "time": 0.0, "pixels": b"", "height": 0, "width": 0, "thumbnail": b""}
    made: dict[float, bytes] = {}  # the thumbnail made of the sample about to be yielded

    def keep(when: float, image: np.ndarray) -> None:
        made[when] = thumbnails.jpeg(image)

    try:
        info = VideoInfo.model_validate_json(item["info"])
        sampling = Sampling(path, info, settings, side, decoding, keep=keep)
        row = 0
        for image in sampling.images():
            when = sampling.times[-1]
            yield _image_row(base, row, when, image, made.pop(when, b""))
            row += 1
        sampled = sampling.finish()
        for extra_time, image in zip(sampled.extra_times, sampling.extra_images(sampled)):
            yield _image_row(base, row, extra_time, image)
            row += 1
        meta: dict[str, Any] = {
            "sampled": sampled,
            "rows": row,
            "embedded": row - len(sampled.extra_times),
        }
    except ShotseekError as exc:
        meta = {"error": str(exc)}
    except Exception as exc:  # a bug or a library error on one file: the others go on
        meta = {"error": f"{path}: unexpected {type(exc).__name__} on {where}: {exc}"}
    yield {**base, "row": -1, "meta": pickle.dumps(meta)}


def _image_row(
    base: dict[str, Any], row: int, when: float, image: np.ndarray, thumbnail: bytes = b""
) -> Row:
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    return {
        **base,
        "row": row,
        "time": when,
        "pixels": image.tobytes(),
        "height": height,
        "width": width,
        "thumbnail": thumbnail,
        "meta": b"",
    }


def row_image(pixels: bytes, height: int, width: int) -> np.ndarray:
    """A row's image again (H × W × 3 uint8)."""
    return np.frombuffer(pixels, dtype=np.uint8).reshape(int(height), int(width), 3)


def decode_in_process(
    tasks: Connection,
    results: Connection,
    settings_json: str,
    side: int,
    decoding: Decoding,
) -> None:
    """A worker process: decode each file it is sent into rows and send them back in chunks of
    ``PROCESS_ROWS``, until it is sent None or its parent is gone (a pipe that ends)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers on Ctrl-C
    # Nothing a library prints may reach the parent's stdout (MCP stdio): stderr, or nowhere.
    try:
        os.dup2(2, 1)
    except OSError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    while True:
        try:
            item = tasks.recv()
        except (EOFError, OSError):
            return
        if item is None:
            return
        # Decoding goes on, at most PROCESS_CHUNKS_AHEAD chunks ahead, while this thread
        # waits for the parent (busy with the model) to take a chunk.
        rows = sample_rows(item, settings_json, side, decoding, "a decoding process")
        chunks = prefetch(_chunks(rows), PROCESS_CHUNKS_AHEAD, name="shotseek-decode-file")
        try:
            for chunk in chunks:
                results.send(chunk)
        except OSError:  # the parent is gone
            return
        finally:
            chunks.close()


def _chunks(rows: Iterator[Row]) -> Iterator[list[Row]]:
    """Rows in lists of ``PROCESS_ROWS``; a video's last row (its description) ends one."""
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= PROCESS_ROWS or row["row"] < 0:
            yield chunk
            chunk = []
