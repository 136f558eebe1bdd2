"""Every operation shotseek offers: one request model, one function, one result model each.

Doors call :data:`OPERATIONS` by name (the socket) or the functions themselves (the CLI alone,
MCP). Heavy modules (the encoder, torch, ollama) are imported inside the operations that need
them, so that a server starts, and answers ``videos``, without loading a model.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shotseek.ops.archive import Archive, Call
from shotseek.ops.requests import (
    SPECS,
    CaptionRequest,
    ClipRequest,
    EvalRequest,
    ExportRequest,
    ForgetRequest,
    Forgotten,
    IndexRequest,
    IndexStates,
    JobRequest,
    NoRequest,
    RefineRequest,
    SearchRequest,
    Spec,
    StepProgress,
    StructureRequest,
    VideoList,
    VideosRequest,
)
from shotseek.pipeline import catalog, thumbnails
from shotseek.pipeline.errors import (
    ConfigError,
    OperationCancelled,
    ShotseekError,
    VideoNotFoundError,
)
from shotseek.pipeline.evaluation import EvalReport, eval_configs
from shotseek.pipeline.evaluation import evaluate as run_eval
from shotseek.pipeline.jobs import IndexJobs
from shotseek.pipeline.models import (
    CaptionReport,
    ClipReport,
    ExportReport,
    IndexJob,
    IndexReport,
    SearchResult,
    VideoRecord,
    VideoStructure,
)

Q = TypeVar("Q", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True)
class Operation(Generic[Q, R]):
    """One operation: its :class:`~shotseek.ops.requests.Spec` and the function that runs it."""

    spec: Spec
    run: Callable[[Archive, Q, Call], R]

    def __call__(self, archive: Archive, request: Q, call: Call | None = None) -> R:
        return self.run(archive, request, call or Call())


#: Every operation, by name (the same names as :data:`~shotseek.ops.requests.SPECS`).
OPERATIONS: dict[str, Operation[Any, Any]] = {}


def operation(name: str) -> Callable[[Callable[[Archive, Q, Call], R]], Operation[Q, R]]:
    def register(fn: Callable[[Archive, Q, Call], R]) -> Operation[Q, R]:
        op: Operation[Q, R] = Operation(SPECS[name], fn)
        OPERATIONS[name] = op
        return op

    return register


# -- indexing ------------------------------------------------------------------------------------


@operation("index")
def index(archive: Archive, request: IndexRequest, call: Call) -> IndexReport:
    """Index files and folders to the end, with progress. In a server the run queues behind
    the other jobs (one writer per store); a caller that goes away cancels it."""
    if archive.jobs is not None:
        job = _start(archive, request)
        return _follow(archive.jobs, job.job_id, call)
    from shotseek.pipeline.runners import index_paths  # torch: when something is indexed

    if request.within_media_roots:
        raise ConfigError("indexing within the media roots is a server's: start `shotseek serve`")
    return index_paths(
        request.paths,
        archive.settings,
        store=archive.store,
        force=request.force,
        progress=call.report,
    )


def _jobs(archive: Archive) -> IndexJobs:
    if archive.jobs is None:
        raise ConfigError("index jobs live in a server: start one with `shotseek serve`")
    return archive.jobs


def _start(archive: Archive, request: IndexRequest) -> IndexJob:
    roots = archive.settings.media_root_paths if request.within_media_roots else None
    return _jobs(archive).start(
        list(request.paths), archive.settings, force=request.force, roots=roots
    )


def _follow(jobs: IndexJobs, job_id: str, call: Call) -> IndexReport:
    """Wait for a job, passing its progress on; cancel it if the caller goes away."""
    events = jobs.listen(job_id)
    try:
        while True:
            try:
                event = events.get(timeout=0.25)
            except queue.Empty:
                if call.cancelled.is_set():
                    jobs.cancel(job_id)
                continue
            if event is None:
                break
            if call.cancelled.is_set():
                jobs.cancel(job_id)
            else:
                call.progress(event)
    finally:
        jobs.unlisten(job_id, events)
    job = jobs.get(job_id)
    if job.state == "cancelled":
        raise OperationCancelled
    if job.state == "failed":
        raise ShotseekError(job.error or "the index job failed")
    return jobs.report(job_id)


@operation("start_index")
def start_index(archive: Archive, request: IndexRequest, call: Call) -> IndexJob:
    """Queue an index run and answer at once with its job (a server's)."""
    return _start(archive, request)


@operation("index_status")
def index_status(archive: Archive, request: JobRequest, call: Call) -> IndexJob:
    return _jobs(archive).get(request.job_id, offset=request.offset, limit=request.limit)


@operation("cancel_index")
def cancel_index(archive: Archive, request: JobRequest, call: Call) -> IndexJob:
    """Stop a queued or running job; the videos it stored are kept, the one it was on is left
    as it was."""
    jobs = _jobs(archive)
    jobs.cancel(request.job_id)
    return jobs.get(request.job_id, offset=request.offset, limit=request.limit)


@operation("forget_video")
def forget_video(archive: Archive, request: ForgetRequest, call: Call) -> Forgotten:
    """Remove a video from the archive: its shots, thumbnails and captions under every model.
    Waits for a running index run (one writer per store)."""
    store = archive.store
    with store.writer():
        found: list[VideoRecord] = []
        for model_id in sorted(store.models()):
            try:
                found.append(store.find_video(model_id, request.video))
            except VideoNotFoundError:
                continue
        if not found:
            raise VideoNotFoundError(
                f"no indexed video matches {request.video!r}; `shotseek videos` lists them"
            )
        shots = 0
        for record in found:
            shots += store.count_shots(record.model_id, record.video_id)
            store.delete_video(record.model_id, record.video_id)
        for video_id in {r.video_id for r in found}:
            thumbnails.drop_video(archive.settings, video_id)
    return Forgotten(videos=found, shots=shots)


# -- reading the archive -------------------------------------------------------------------------


@operation("videos")
def videos(archive: Archive, request: VideosRequest, call: Call) -> VideoList:
    found = catalog.list_videos(archive.store, archive.settings, every_model=request.every_model)
    return VideoList(videos=found)


@operation("index_states")
def index_states(archive: Archive, request: NoRequest, call: Call) -> IndexStates:
    return IndexStates(states=catalog.index_states(archive.store))


@operation("structure")
def structure(archive: Archive, request: StructureRequest, call: Call) -> VideoStructure:
    return catalog.video_structure(archive.store, archive.settings, request.video)


# -- searching -----------------------------------------------------------------------------------


@operation("search")
def search(archive: Archive, request: SearchRequest, call: Call) -> SearchResult:
    from shotseek.pipeline import search as searching

    return searching.search(
        archive.settings,
        archive.store,
        request.query,
        image_bytes=request.image_data,
        progress=_steps(call),
    )


@operation("refine")
def refine(archive: Archive, request: RefineRequest, call: Call) -> SearchResult:
    from shotseek.pipeline import search as searching

    return searching.refine(
        archive.settings, archive.store, **request.model_dump(), progress=_steps(call)
    )


def _steps(call: Call):
    """A pipeline's ``progress(done, total, step)`` as the caller's step events."""

    def report(done: int, total: int, step: str) -> None:
        call.report(StepProgress(done=done, total=total, step=step))

    return report


# -- the VLM and evaluation ----------------------------------------------------------------------


@operation("caption")
def caption(archive: Archive, request: CaptionRequest, call: Call) -> CaptionReport:
    from shotseek.pipeline import captions

    def progress(done: int, total: int, _: object = None) -> None:
        step = f"captioning shot {done + 1} of {total}" if done < total else "done"
        call.report(StepProgress(done=done, total=total, step=step))

    if request.shot_ids is not None:
        model_id = catalog.reader_model(archive.store, archive.settings).model_id
        return CaptionReport(
            captions=captions.caption_shots(
                archive.settings,
                archive.store,
                model_id,
                list(request.shot_ids),
                progress=progress,
                budget_seconds=request.budget_seconds,
            )
        )
    return captions.caption_videos(
        archive.settings, archive.store, request.videos, progress=progress
    )


@operation("eval")
def evaluate(archive: Archive, request: EvalRequest, call: Call) -> EvalReport:
    configs = eval_configs(
        archive.store,
        archive.settings,
        compare=request.compare,
        mode=request.mode,
        rerank=request.rerank,
    )
    return run_eval(
        archive.settings, archive.store, Path(request.log), configs, tolerance=request.tolerance
    )


@operation("export")
def export(archive: Archive, request: ExportRequest, call: Call) -> ExportReport:
    """A search's hits or named shots as a timeline file for an editor (or a CSV)."""
    from shotseek.pipeline.export import export_selects

    return export_selects(
        archive.settings,
        archive.store,
        format=request.format,
        **request.selection(),
        gap=request.gap,
        output=Path(request.output) if request.output else None,
        title=request.title,
    )


@operation("clip")
def clip(archive: Archive, request: ClipRequest, call: Call) -> ClipReport:
    """A search's hits or named shots as video files (or one reel) a person can play."""
    from shotseek.pipeline.export import clip_selects

    return clip_selects(
        archive.settings,
        archive.store,
        **request.selection(),
        mode=request.mode,
        burn_timecode=request.burn_timecode,
        reel=request.reel,
        folder=Path(request.folder) if request.folder else None,
        progress=lambda done, total: call.report(
            StepProgress(done=done, total=total, step=f"cutting clip {done + 1} of {total}")
        ),
    )
