"""Several files at once: each decoded and sampled by a worker of its own, one model embedding
what they all sample, each video analysed and stored as soon as it is whole.

Two kinds of worker share this module's rows:

* **here** (:func:`index_in_processes`, ``SHOTSEEK_DECODE_PROCESSES``, the default for a
  folder): processes of this machine, each decoding one file at a time while this process's
  model embeds their samples in batches;
* **on a Ray cluster** (:mod:`shotseek.pipeline.cluster`): Ray tasks, and actors that embed.

A worker turns a file into rows (:func:`~shotseek.pipeline.sampling.sample_rows`): one per
image to embed (with the sample's thumbnail when it lies over a second after a keyframe), then
one that describes the video (:class:`~shotseek.pipeline.sampling.Sampled`, or the error that
stopped it). A
:class:`Collector` gathers each video's vectors as they come back, in any order, and stores a
whole video with the same function as a one-file run
(:func:`~shotseek.pipeline.index.store_video`): the archive is the same.

A file that fails, or whose worker dies (``kill -9``, out of memory, a crash in a codec), is
reported by name and the others go on; a process whose parent dies stops at its next row.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import numpy as np

from shotseek.pipeline.config import (
    CPU_DECODE_PROCESSES,
    DECODE_PROCESS_CORES,
    Settings,
)
from shotseek.pipeline.encoder import ClipEncoder
from shotseek.pipeline.errors import ShotseekError, WorkerLostError
from shotseek.pipeline.index import Planned, Reporter, failed_outcome, plan_video, store_video
from shotseek.pipeline.models import IndexOutcome, ProgressEvent
from shotseek.pipeline.sampling import (
    Decoding,
    Row,
    Sampled,
    decode_in_process,
    row_image,
    sample_side,
)
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.thumbnails import KeptThumbnails


@dataclass
class VideoRows:
    """One video's rows as they come back to the process that stores it."""

    planned: Planned
    report: Reporter
    started: float
    vectors: dict[int, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] | None = None
    kept: KeptThumbnails | None = None  # the thumbnails its worker made while decoding

    def whole(self) -> bool:
        return self.meta is not None and (
            "error" in self.meta or len(self.vectors) == self.meta["rows"]
        )


def plan_files(
    files: list[Path],
    settings: Settings,
    store: ShotStore,
    encoder: ClipEncoder,
    *,
    force: bool,
    progress: Callable[[ProgressEvent], None] | None,
    on_result: Callable[[IndexOutcome], None],
) -> Iterator[tuple[int, VideoRows]]:
    """Each file that needs indexing (its number, its rows to come), probed as it is asked
    for; the outcome of a file that fails its probe or needs no indexing goes to ``on_result``."""
    for number, path in enumerate(files, start=1):
        started = time.perf_counter()
        report = Reporter(progress, path, number, len(files))
        try:
            planned = plan_video(
                path, settings, store, lambda: encoder, force=force, report=report, started=started
            )
        except Exception as exc:
            on_result(failed_outcome(path, exc, started, report))
            continue
        if isinstance(planned, IndexOutcome):
            on_result(planned)
        else:
            yield number, VideoRows(planned[0], report, started)


def work_item(number: int, video: VideoRows) -> dict[str, Any]:
    """What a worker is given for a video: plain values, sent between processes."""
    planned = video.planned
    return {"video": number, "path": str(planned.path), "info": planned.info.model_dump_json()}


class Collector:
    """Each video's vectors (and thumbnails) as embedded rows come back, in any order and
    mixed with other videos'; a video whole is analysed and stored at once, its outcome told to
    ``on_result``. Rows of a video already done (a retried task's) are ignored."""

    def __init__(
        self,
        videos: dict[int, VideoRows],
        settings: Settings,
        store: ShotStore,
        encoder: ClipEncoder,
        on_result: Callable[[IndexOutcome], None],
    ) -> None:
        self.videos, self.settings, self.store = videos, settings, store
        self.encoder, self.on_result = encoder, on_result

    def add(self, rows: Iterable[tuple[int, int, float, np.ndarray | None, bytes, bytes]]) -> None:
        """Embedded rows of any videos, each (video, row, time, vector, thumbnail, meta): an
        image row's vector, or (row -1) the video's description."""
        touched: set[int] = set()
        for number, row, when, vector, thumbnail, meta in rows:
            video = self.videos.get(int(number))
            if video is None:
                continue
            touched.add(int(number))
            if row < 0:
                video.meta = pickle.loads(meta)
                continue
            video.vectors[int(row)] = vector  # type: ignore[assignment]
            if thumbnail:
                video.kept = video.kept or KeptThumbnails(self.settings)
                video.kept.add_jpeg(float(when), bytes(thumbnail))
            video.report("sample", float(when), len(video.vectors))
        for number in sorted(touched):
            video = self.videos[number]
            if video.whole():
                del self.videos[number]
                self.on_result(self._finish(video))

    def fail(self, video_number: int, error: Exception) -> None:
        """Report a video as failed now (its worker died, the model failed on its rows), and
        ignore any rows of it to come."""
        video = self.videos.pop(video_number, None)
        if video is not None:
            if video.kept is not None:
                video.kept.close()
            self.on_result(failed_outcome(video.planned.path, error, video.started, video.report))

    def fail_the_rest(self, why: str) -> None:
        for number, video in list(self.videos.items()):
            self.fail(number, ShotseekError(f"{video.planned.path}: {why}"))

    def _finish(self, video: VideoRows) -> IndexOutcome:
        meta = video.meta or {}
        try:
            if "error" in meta:
                raise ShotseekError(meta["error"])
            sampled: Sampled = meta["sampled"]
            embedded = np.stack([video.vectors[k] for k in range(meta["embedded"])])
            extra = [video.vectors[k] for k in range(meta["embedded"], meta["rows"])]
            return store_video(
                video.planned,
                sampled.embedded(embedded, np.stack(extra) if extra else None, video.kept),
                self.settings,
                self.store,
                self.encoder,
                report=video.report,
                started=video.started,
            )
        except Exception as exc:
            return failed_outcome(video.planned.path, exc, video.started, video.report)
        finally:
            if video.kept is not None:
                video.kept.close()


# -- here: worker processes -------------------------------------------------------------------


def processes_for(settings: Settings, encoder: ClipEncoder, files: int) -> int:
    """How many files to decode at once here (1: one at a time, in this process):
    ``SHOTSEEK_DECODE_PROCESSES``, else one per ``DECODE_PROCESS_CORES`` cores where the model
    leaves the cores free (a GPU), and ``CPU_DECODE_PROCESSES`` where its workers fill them (a
    CPU); never more than the files."""
    if settings.decode_processes:
        wanted = settings.decode_processes
    elif encoder.frees_the_caller:
        wanted = CPU_DECODE_PROCESSES
    else:
        wanted = (os.cpu_count() or 1) // DECODE_PROCESS_CORES
    return max(1, min(wanted, files))


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    tasks: Connection  # this side: files to decode
    results: Connection  # this side: their rows
    video: int | None = None  # the file number it decodes now


class _Workers:
    """The decoding processes of one run: started, fed one file at a time, stopped."""

    def __init__(self, settings: Settings, side: int, decoding: Decoding) -> None:
        self._context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._args = (settings.for_workers().model_dump_json(), side, decoding)
        self.running: list[_Worker] = []

    def start(self) -> _Worker:
        tasks_here, tasks_there = self._context.Pipe()
        results_there, results_here = self._context.Pipe()
        process = self._context.Process(
            target=decode_in_process,
            args=(tasks_there, results_there, *self._args),
            name="shotseek-decode",
            daemon=True,
        )
        process.start()
        tasks_there.close()  # the worker's ends: a dead worker reads as a pipe that ends
        results_there.close()
        worker = _Worker(process, tasks_here, results_here)
        self.running.append(worker)
        return worker

    def give(self, worker: _Worker, item: dict[str, Any] | None) -> None:
        worker.video = None if item is None else int(item["video"])
        with contextlib.suppress(OSError):
            worker.tasks.send(item)

    def drop(self, worker: _Worker) -> None:
        self.running.remove(worker)
        worker.tasks.close()
        worker.results.close()
        worker.process.join(timeout=1.0)

    def stop(self) -> None:
        """Stop the workers still running: none after a run that ended, the busy ones after
        an error or Ctrl-C (their files are not stored: nothing to finish)."""
        for worker in self.running:
            worker.process.kill()
            worker.process.join()
            worker.tasks.close()
            worker.results.close()
        self.running.clear()


def index_in_processes(
    files: list[Path],
    settings: Settings,
    *,
    store: ShotStore,
    encoder: ClipEncoder,
    force: bool,
    processes: int,
    progress: Callable[[ProgressEvent], None] | None,
    on_result: Callable[[IndexOutcome], None],
) -> None:
    """Index ``files`` with ``processes`` of them decoding at once in worker processes and this
    process embedding their samples in the encoder's batches; every file's outcome goes to
    ``on_result`` (in the order files finish)."""
    collector = Collector({}, settings, store, encoder, on_result)
    # probed as a worker becomes free: the first file decodes at once, however many follow
    planned = plan_files(
        files, settings, store, encoder, force=force, progress=progress, on_result=on_result
    )
    count = min(processes, len(files))
    decoding = Decoding.for_model(settings, encoder.frees_the_caller, files_at_once=count)
    workers = _Workers(settings, sample_side(settings, encoder), decoding)
    waiting: list[Row] = []  # image rows not embedded yet, from any worker

    def next_item() -> dict[str, Any] | None:
        """The next file that needs indexing, or None when there is none left."""
        for number, video in planned:
            collector.videos[number] = video
            video.report("sample", 0.0, 0)
            return work_item(number, video)
        return None

    def embed(rows: list[Row]) -> None:
        rows = [r for r in rows if r["video"] in collector.videos]  # not a failed video's
        if not rows:
            return
        try:
            vectors = encoder.encode_images(
                [row_image(r["pixels"], r["height"], r["width"]) for r in rows]
            )
        except Exception as exc:  # the model failed on this batch: its videos, said by name
            for number in {r["video"] for r in rows}:
                collector.fail(number, exc)
            return
        collector.add(
            (r["video"], r["row"], r["time"], vector, r["thumbnail"], b"")
            for r, vector in zip(rows, vectors)
        )

    try:
        for _ in range(count):
            if (item := next_item()) is None:
                break
            workers.give(workers.start(), item)
        while workers.running:
            by_pipe = {w.results: w for w in workers.running}
            sentinels = {w.process.sentinel: w for w in workers.running}
            ready = wait([*by_pipe, *sentinels])[0]
            worker = by_pipe.get(ready) or sentinels[ready]  # type: ignore[call-overload]
            try:
                chunk: list[Row] = worker.results.recv()
            except (EOFError, OSError):  # it died, or stopped when told to
                _lost(worker, workers, collector, next_item)
                continue
            for row in chunk:
                if row["row"] >= 0:
                    waiting.append(row)
                    continue
                collector.add([(row["video"], -1, 0.0, None, b"", row["meta"])])
                workers.give(worker, next_item())
            while len(waiting) >= encoder.batch_size:
                embed(waiting[: encoder.batch_size])
                del waiting[: encoder.batch_size]
        if waiting:
            embed(waiting)
            waiting.clear()
        collector.fail_the_rest("its decoding process returned no result for it")
    finally:
        workers.stop()
        for video in collector.videos.values():
            if video.kept is not None:
                video.kept.close()


def _lost(
    worker: _Worker,
    workers: _Workers,
    collector: Collector,
    next_item: Callable[[], dict[str, Any] | None],
) -> None:
    """A worker whose pipe ended: one told to stop, or one that died with a file (reported as
    failed by name); a replacement takes the files left."""
    number = worker.video
    workers.drop(worker)
    if number is None:
        return
    video = collector.videos.get(number)
    code = worker.process.exitcode
    how = f"was killed by signal {-code}" if code and code < 0 else f"exited (status {code})"
    if video is not None:
        collector.fail(
            number,
            WorkerLostError(
                f"{video.planned.path}: the process decoding it {how} before it was done "
                "(killed, out of memory, or a crash in a codec); nothing of it was stored: "
                "index it again"
            ),
        )
    if (item := next_item()) is not None:
        workers.give(workers.start(), item)
