"""Background indexing jobs: long runs that outlive the request (and the client) that began them.

A chat client times out long tool calls, and an hour of footage can take an hour on a CPU, so a
server runs every index run as a job: the MCP tools and the CLI's requests through the socket
alike. Jobs run first come, first served, one at a time, on one worker thread: a store has one
writer. A job waiting its turn says ``queued``; a queued or running job can be cancelled (what
is stored by then is kept, complete). Everything a job does happens on that thread, walking the
folders included: a folder of 10,000 files never stalls the server's event loop.

A job's answer is a summary that stays small whatever the folder: counts, the first failures,
and one page of per-file results bounded in bytes, with the offset of the next page. Finished
jobs are forgotten ``job_keep_seconds`` after they end.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from shotseek.pipeline.catalog import writer_settings
from shotseek.pipeline.config import JOB_FAILURES_SHOWN, JOB_PAGE_MAX, Settings
from shotseek.pipeline.errors import JobNotFoundError, MediaAccessError, OperationCancelled
from shotseek.pipeline.media import confine, expand_paths
from shotseek.pipeline.models import (
    ENDED_JOB_STATES,
    IndexJob,
    IndexOutcome,
    IndexReport,
    JobCounts,
    JobState,
    ProgressEvent,
)
from shotseek.pipeline.store import ShotStore

if TYPE_CHECKING:  # the encoder (and torch) load when a job needs a model, not before
    from shotseek.pipeline.encoder import ClipEncoder

log = logging.getLogger(__name__)

#: A page of results is cut before its JSON passes this many bytes (an MCP reply stays small).
PAGE_BYTES = 32_000


@dataclass
class _Job:
    job_id: str
    started_at: datetime
    paths: list[str] = field(default_factory=list)
    settings: Settings | None = None
    force: bool = False
    roots: list[Path] | None = None
    state: JobState = "queued"
    cancel: threading.Event = field(default_factory=threading.Event)
    finished_at: datetime | None = None
    ended: float | None = None  # monotonic time it ended
    files_total: int | None = None
    current: ProgressEvent | None = None
    results: list[IndexOutcome] = field(default_factory=list)
    error: str | None = None
    listeners: list[queue.Queue] = field(default_factory=list)

    def view(self, offset: int, limit: int) -> IndexJob:
        counts = JobCounts()
        for r in self.results:
            setattr(counts, r.status, getattr(counts, r.status) + 1)
        page: list[IndexOutcome] = []
        size = 0
        for outcome in self.results[offset : offset + limit]:
            size += len(outcome.model_dump_json())
            if page and size > PAGE_BYTES:
                break
            page.append(outcome)
        end = offset + len(page)
        return IndexJob(
            job_id=self.job_id,
            state=self.state,
            started_at=self.started_at,
            finished_at=self.finished_at,
            files_total=self.files_total,
            files_done=len(self.results),
            counts=counts,
            current=self.current,
            failures=[r for r in self.results if r.status == "failed"][:JOB_FAILURES_SHOWN],
            results=page,
            results_offset=offset,
            next_offset=end
            if end < len(self.results) or self.state not in ENDED_JOB_STATES
            else None,
            error=self.error,
        )


class IndexJobs:
    """Runs index jobs one at a time on one worker thread, in the order they were asked for."""

    def __init__(
        self,
        store: ShotStore,
        encoder: Callable[[Settings], ClipEncoder],
        keep_seconds: float = 3600.0,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.keep_seconds = keep_seconds
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._waiting: queue.Queue[_Job | None] = queue.Queue()
        self._runner: threading.Thread | None = None
        self._closed = False

    def start(
        self,
        paths: list[str],
        settings: Settings,
        *,
        force: bool = False,
        roots: list[Path] | None = None,
    ) -> IndexJob:
        """Queue an index run; with ``roots``, files found outside them (through links) are
        refused and reported as failed, never opened. Returns at once: the folders are walked
        on the jobs' thread when the job's turn comes."""
        job = _Job(
            job_id=uuid.uuid4().hex[:12],
            started_at=datetime.now(UTC),
            paths=list(paths),
            settings=settings,
            force=force,
            roots=roots,
        )
        with self._lock:
            if self._closed:
                raise JobNotFoundError("the server is shutting down: no new index job starts")
            self._evict()
            self._jobs[job.job_id] = job
            if self._runner is None:
                self._runner = threading.Thread(
                    target=self._run_all, name="index-jobs", daemon=True
                )
                self._runner.start()
        self._waiting.put(job)
        return self.get(job.job_id)

    def get(self, job_id: str, offset: int = 0, limit: int = JOB_PAGE_MAX) -> IndexJob:
        with self._lock:
            return self._find(job_id).view(max(0, offset), max(1, min(limit, JOB_PAGE_MAX)))

    def report(self, job_id: str) -> IndexReport:
        """Every file's outcome so far, in the order they were done."""
        with self._lock:
            return IndexReport(results=list(self._find(job_id).results))

    def cancel(self, job_id: str) -> IndexJob:
        """Stop a job: a queued one never starts; a running one stops at its next step (within
        a batch of frames), keeping the videos stored by then and leaving the one it was on as
        it was. Cancelling an ended job changes nothing."""
        with self._lock:
            job = self._find(job_id)
            job.cancel.set()
            queued = job.state == "queued"
        if queued:
            self._update(job, state="cancelled", finished_at=datetime.now(UTC))
        return self.get(job_id)

    def close(self) -> None:
        """Cancel every job and let the worker thread end (a server that shuts down)."""
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
            runner = self._runner
        for job in jobs:
            job.cancel.set()
        self._waiting.put(None)
        if runner is not None:
            runner.join(timeout=30)

    def _find(self, job_id: str) -> _Job:
        self._evict()
        job = self._jobs.get(job_id.strip())
        if job is None:
            raise JobNotFoundError(
                f"no index job {job_id[:40]!r}: a job id comes from index_video, and a "
                f"finished job is kept for {self.keep_seconds / 60:g} minutes"
            )
        return job

    def listen(self, job_id: str) -> queue.Queue:
        """A queue that receives the job's progress events and a final None."""
        q: queue.Queue = queue.Queue()
        with self._lock:
            job = self._jobs[job_id]
            if job.state in ENDED_JOB_STATES:
                q.put(None)
            else:
                job.listeners.append(q)
        return q

    def unlisten(self, job_id: str, q: queue.Queue) -> None:
        """Stop feeding a queue from :meth:`listen` (its reader has gone)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and q in job.listeners:
                job.listeners.remove(q)

    def _evict(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if job.ended is not None and now - job.ended > self.keep_seconds:
                del self._jobs[job_id]

    def _update(self, job: _Job, event: ProgressEvent | None = None, **changes) -> None:
        with self._lock:
            if job.state in ENDED_JOB_STATES:
                return  # cancelled while queued: the runner's word comes too late
            if event is not None:
                job.current = event
            for key, value in changes.items():
                setattr(job, key, value)
            ended = job.state in ENDED_JOB_STATES
            if ended:
                job.ended = time.monotonic()
            listeners = list(job.listeners)
            if ended:
                job.listeners = []
        if ended or event is not None:
            for q in listeners:
                q.put(None if ended else event)

    def _list_files(self, job: _Job) -> list[str]:
        files = []
        for path in expand_paths(job.paths):
            if job.cancel.is_set():
                raise OperationCancelled
            try:
                files.append(str(confine(str(path), job.roots) if job.roots is not None else path))
            except MediaAccessError as exc:
                with self._lock:
                    job.results.append(
                        IndexOutcome(path=str(path), status="failed", reason=str(exc))
                    )
        with self._lock:
            job.files_total = len(files) + len(job.results)
        return files

    def _run_all(self) -> None:
        while (job := self._waiting.get()) is not None:
            if job.state == "queued":
                self._run(job)

    def _run(self, job: _Job) -> None:
        from shotseek.pipeline.runners import index_paths  # torch: when a job runs

        def progress(event: ProgressEvent) -> None:
            if job.cancel.is_set():
                raise OperationCancelled
            self._update(job, event)

        def on_result(outcome: IndexOutcome) -> None:
            with self._lock:
                job.results.append(outcome)

        assert job.settings is not None
        try:
            self._update(job, state="listing")
            files = self._list_files(job)
            self._update(job, state="running")
            if files:  # the model is worked out once, for the encoder and the run
                settings = writer_settings(self.store, job.settings)
                index_paths(
                    files,
                    settings,
                    store=self.store,
                    encoder=self.encoder(settings),
                    force=job.force,
                    progress=progress,
                    on_result=on_result,
                    build_in_background=True,  # the server searches meanwhile
                )
        except OperationCancelled:
            self._update(job, state="cancelled", finished_at=datetime.now(UTC))
            return
        except Exception as exc:  # e.g. the model cannot be loaded: the whole job fails
            log.exception("index job %s failed", job.job_id)
            self._update(job, state="failed", error=str(exc), finished_at=datetime.now(UTC))
            return
        self._update(job, state="finished", finished_at=datetime.now(UTC))
