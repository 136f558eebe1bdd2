"""Indexing: video files → sampled frames → embeddings → classes/scenes/shots → the store.

This module is one video's indexing: :func:`index_video`, and the pieces the runners above it
share (:func:`plan_video`, :func:`store_video`). Files and folders go to
:func:`shotseek.pipeline.runners.index_paths`, which chooses a runner: here one file after the
other, decode processes (:mod:`shotseek.pipeline.parallel`) or Ray
(:mod:`shotseek.pipeline.cluster`); nothing here imports them. :func:`index_video` runs named
stages, each a function here or in its own module:

1. ``probe`` — :func:`shotseek.pipeline.video.probe` validates the file before any work;
2. :func:`check_existing` — skip a file indexed with the same model and settings, or record
   that it moved;
3. :func:`embed_frames` — sample and encode, streaming (frames are dropped once embedded),
   while every decoded frame goes past the camera-cut detector; a camera shot too short to
   hold a sample gets its middle frame embedded;
4. ``analyse`` — :func:`shotseek.pipeline.segment.analyse`: classes → scenes → shots;
5. ``thumbnails`` — :func:`shotseek.pipeline.thumbnails.write_thumbnails`, then
   :func:`shotseek.pipeline.segment.to_shots` turns the structure into stored shots;
6. ``store`` — :meth:`ShotStore.write_run` replaces the video's shots in one switch;
7. :func:`forget_replaced` — drop what the new run replaced (old thumbnails, a changed file's
   old record).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from shotseek.pipeline import thumbnails
from shotseek.pipeline.catalog import writer_settings
from shotseek.pipeline.config import (
    PREFETCH_BATCHES,
    Settings,
)
from shotseek.pipeline.encoder import ClipEncoder, get_encoder
from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.media import content_id
from shotseek.pipeline.models import (
    IndexOutcome,
    ProgressEvent,
    Stage,
    VideoInfo,
    VideoRecord,
)
from shotseek.pipeline.sampling import Decoding, Embedded, Sampling, sample_side
from shotseek.pipeline.segment import SegmentParams, analyse, to_shots
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.video import prefetch, probe

log = logging.getLogger(__name__)

#: Bumped when a change to the pipeline changes what an index run produces.
PIPELINE_VERSION = 3

ProgressCallback = Callable[[ProgressEvent], None]


def segment_params(settings: Settings) -> SegmentParams:
    return SegmentParams(
        class_threshold=settings.class_threshold,
        min_scene_seconds=settings.min_scene_seconds,
        shot_threshold=settings.shot_threshold,
        min_shot_seconds=settings.min_shot_seconds,
    )


def settings_key(settings: Settings, encoder: ClipEncoder) -> str:
    """Hash of everything that shapes an index run's result."""
    shaping = {
        "pipeline": PIPELINE_VERSION,
        "model": encoder.model_id,
        "fps": settings.fps,
        "short_side": sample_side(settings, encoder),
        "segment": segment_params(settings).model_dump(),
        "cuts": [settings.cut_threshold, settings.cut_min_shot_seconds],
        "thumbnail_width": settings.thumbnail_width,
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:16]


class Reporter:
    def __init__(self, callback: ProgressCallback | None, path: Path, number: int, count: int):
        self.callback, self.path, self.number, self.count = callback, str(path), number, count
        self.total: float | None = None

    def __call__(self, stage: Stage, done: float = 0.0, samples: int = 0) -> None:
        if self.callback is not None:
            self.callback(
                ProgressEvent(
                    path=self.path,
                    file_number=self.number,
                    file_count=self.count,
                    stage=stage,
                    done=done,
                    total=self.total,
                    samples=samples,
                )
            )


def check_existing(
    store: ShotStore, path: Path, video_id: str, model_id: str, key: str, *, force: bool
) -> tuple[VideoRecord, str] | None:
    """The indexed record and why the file needs no indexing, or None to index it.

    A moved or renamed file has its path updated; an identical copy of an indexed file that
    still exists is not indexed twice."""
    existing = store.get_video(model_id, video_id)
    if not existing or existing.settings_key != key or force:
        return None
    if existing.path == str(path):
        return existing, "already indexed with this model and settings (--force redoes it)"
    if Path(existing.path).exists():
        return existing, f"same content as {existing.path}, which is indexed: not indexed twice"
    store.update_path(model_id, video_id, str(path))
    return existing, f"already indexed as {existing.path} (moved or renamed): path updated"


def embed_frames(
    path: Path,
    info: VideoInfo,
    settings: Settings,
    encoder: ClipEncoder,
    report: Callable[[Stage, float, int], None] = lambda stage, done, samples: None,
) -> Embedded:
    """Sample the video and embed the samples, streaming, while every decoded frame goes past
    the cut detector; then embed the middle frame of each camera shot no sample fell in."""
    kept = thumbnails.KeptThumbnails(settings)
    batches = []
    report("sample", 0.0, 0)
    try:
        sampling = Sampling(
            path,
            info,
            settings,
            sample_side(settings, encoder),
            Decoding.for_model(settings, encoder.frees_the_caller),
            keep=kept.add,
        )
        # Decoding, cut detection and the still check run while the model runs: on a CPU on
        # this thread, the model's batches on the encoder's workers; on a GPU, where the model
        # runs on this thread, on a thread of their own a couple of batches ahead. Either way
        # memory stays bounded.
        samples = sampling.images()
        if not encoder.frees_the_caller:
            samples = prefetch(
                samples, PREFETCH_BATCHES * encoder.batch_size, name="shotseek-sample"
            )
        for batch in encoder.iter_image_batches(samples):
            batches.append(batch)
            report("sample", sampling.times[-1], len(sampling.times))
        sampled = sampling.finish()
        extra = sampling.extra_images(sampled)
        return sampled.embedded(
            np.concatenate(batches),
            encoder.encode_images(extra) if extra else None,
            kept,
        )
    except BaseException:
        kept.close()
        raise


def forget_replaced(store: ShotStore, settings: Settings, record: VideoRecord) -> None:
    """After a run is stored: drop the video's older thumbnails, and forget a video whose file
    at this path has since changed (it is this one now)."""
    thumbnails.drop_other_runs(settings, record.video_id, keep=record.run_id)
    for other in store.list_videos(record.model_id):
        if other.path == record.path and other.video_id != record.video_id:
            store.delete_video(record.model_id, other.video_id)
            thumbnails.drop_video(settings, other.video_id)


def _video_record(path: Path, info: VideoInfo, settings: Settings, **fields: object) -> VideoRecord:
    return VideoRecord(
        path=str(path),
        file_name=path.name,
        size_bytes=info.size_bytes,
        width=info.width,
        height=info.height,
        fps_sampled=settings.fps,
        clock=info.clock,
        indexed_at=datetime.now(UTC),
        **fields,
    )


@dataclass(frozen=True)
class Planned:
    """A file to index: probed, with its id and settings key, not indexed yet."""

    path: Path  # resolved
    info: VideoInfo
    video_id: str
    key: str


def plan_video(
    path: Path,
    settings: Settings,
    store: ShotStore,
    load_encoder: Callable[[], ClipEncoder],
    *,
    force: bool,
    report: Reporter,
    started: float,
) -> tuple[Planned, ClipEncoder] | IndexOutcome:
    """Probe a file (every validation error is raised here, before any work, the model's
    loading included) and decide: the outcome of a file that needs no indexing, or what
    :func:`store_video` needs to index it, with the encoder."""
    report("probe")
    info = probe(path)
    path = path.resolve()
    report.total = info.duration or None
    encoder = load_encoder()
    video_id = content_id(path)
    key = settings_key(settings, encoder)
    skipped = check_existing(store, path, video_id, encoder.model_id, key, force=force)
    if skipped is None:
        return Planned(path, info, video_id, key), encoder
    existing, reason = skipped
    report("skipped", info.duration)
    return IndexOutcome(
        path=str(path),
        status="skipped",
        video_id=video_id,
        duration=existing.duration,
        n_shots=existing.n_shots,
        seconds=time.perf_counter() - started,
        reason=reason,
    )


def store_video(
    planned: Planned,
    embedded: Embedded,
    settings: Settings,
    store: ShotStore,
    encoder: ClipEncoder,
    *,
    report: Reporter,
    started: float,
) -> IndexOutcome:
    """Analyse an embedded video into classes → scenes → shots, write their thumbnails and
    store them in one switch (the store is as it was if anything fails)."""
    path, video_id = planned.path, planned.video_id
    frame_times, end_time = embedded.times, embedded.end_time
    report("analyse", frame_times[-1])
    structure = analyse(
        embedded.vectors, frame_times, end_time, segment_params(settings), embedded.cuts
    )
    run_id = uuid.uuid4().hex[:12]
    report("thumbnails", frame_times[-1])
    try:
        thumbs = thumbnails.write_thumbnails(
            settings,
            path,
            video_id,
            run_id,
            [float(frame_times[s.keyframe]) for s in structure.shots],
            embedded.kept,
        )
        shots = to_shots(
            structure,
            frame_times,
            end_time,
            video_id=video_id,
            run_id=run_id,
            path=str(path),
            thumbnails=thumbs,
            clock=planned.info.clock,
        )
        record = _video_record(
            path,
            planned.info,
            settings,
            video_id=video_id,
            duration=end_time,
            frame_count=len(frame_times),
            model_id=encoder.model_id,
            settings_key=planned.key,
            run_id=run_id,
            n_classes=structure.n_classes,
            n_scenes=len(structure.scenes),
            n_shots=len(shots),
        )
        report("store", frame_times[-1])
        store.write_run(record, shots, structure.shot_vectors, encoder.spec)
    except BaseException:
        thumbnails.drop_run(settings, video_id, run_id)
        raise
    forget_replaced(store, settings, record)
    report("done", end_time)
    return IndexOutcome(
        path=str(path),
        status="indexed",
        video_id=video_id,
        duration=record.duration,
        n_shots=len(shots),
        seconds=time.perf_counter() - started,
    )


def index_video(
    path: str | Path,
    settings: Settings,
    *,
    store: ShotStore,
    encoder: ClipEncoder | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    file_number: int = 1,
    file_count: int = 1,
) -> IndexOutcome:
    """Index one video, or skip it when it is already indexed with the same model and settings.

    Raises a :class:`ShotseekError` naming the file when it cannot be indexed; the store is
    then as it was before the call.
    """
    started = time.perf_counter()
    path = Path(path).expanduser()
    report = Reporter(progress, path, file_number, file_count)
    given = encoder
    planned = plan_video(
        path,
        settings,
        store,
        lambda: given or get_encoder(writer_settings(store, settings)),
        force=force,
        report=report,
        started=started,
    )
    if isinstance(planned, IndexOutcome):
        return planned
    plan, encoder = planned
    embedded = embed_frames(plan.path, plan.info, settings, encoder, report)
    try:
        return store_video(plan, embedded, settings, store, encoder, report=report, started=started)
    finally:
        if embedded.kept is not None:
            embedded.kept.close()


def failed_outcome(
    path: Path, exc: BaseException, started: float, report: Reporter
) -> IndexOutcome:
    """A file that could not be indexed: its reason (an unexpected error is logged with its
    traceback, and named as unexpected), told to the progress callback too."""
    reason = str(exc)
    if not isinstance(exc, ShotseekError):  # a bug or an unexpected library error
        log.error("indexing %s failed", path, exc_info=exc)
        reason = f"{path}: unexpected {type(exc).__name__}: {exc}"
    report("failed")
    return IndexOutcome(
        path=str(path), status="failed", reason=reason, seconds=time.perf_counter() - started
    )
