"""Background indexing jobs: long runs that outlive the request (and the client) that began them.

A chat client times out long tool calls, and an hour of footage can take an hour on a CPU, so the
MCP server starts indexing as a job on a worker thread, waits a little, and otherwise answers
with a job id to poll. Everything a job does happens on its worker thread, walking the folders
included: a folder of 10,000 files never stalls the server's event loop.

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
from typing import Literal

from pydantic import BaseModel, Field

from shotseek.pipeline.catalog import writer_settings
from shotseek.pipeline.config import JOB_FAILURES_SHOWN, JOB_PAGE_MAX, Settings
from shotseek.pipeline.encoder import ClipEncoder
from shotseek.pipeline.errors import JobNotFoundError, MediaAccessError
from shotseek.pipeline.index import index_paths
from shotseek.pipeline.media import confine, expand_paths
from shotseek.pipeline.models import IndexOutcome, ProgressEvent
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)

JobState = Literal["listing", "running", "finished", "failed"]
#: A page of results is cut before its JSON passes this many bytes (an MCP reply stays small).
PAGE_BYTES = 32_000


class JobCounts(BaseModel):
    indexed: int = 0
    skipped: int = 0
    failed: int = 0


class IndexJob(BaseModel):
    """An indexing job, summarised: counts, first failures and one page of per-file results."""

    job_id: str
    state: JobState = Field(
        description="listing (finding files), running, finished, or failed (the whole job)."
    )
    started_at: datetime
    finished_at: datetime | None = None
    files_total: int | None = Field(None, description="Files found; null while listing.")
    files_done: int = 0
    counts: JobCounts = Field(default_factory=JobCounts)
    current: ProgressEvent | None = Field(None, description="The latest progress event.")
    failures: list[IndexOutcome] = Field(
        default_factory=list, description=f"The first {JOB_FAILURES_SHOWN} files that failed."
    )
    results: list[IndexOutcome] = Field(
        default_factory=list, description="Per-file results from results_offset on."
    )
    results_offset: int = 0
    next_offset: int | None = Field(
        None, description="Pass as offset to index_status for the next page; null at the end."
    )
    error: str | None = Field(None, description="Why the whole job stopped, if it did.")


@dataclass
class _Job:
    job_id: str
    started_at: datetime
    state: JobState = "listing"
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
            if end < len(self.results) or self.state in ("listing", "running")
            else None,
            error=self.error,
        )


class IndexJobs:
    """Runs index jobs one at a time on worker threads, in the order they were asked for."""

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
        self._one_at_a_time = threading.Lock()

    def start(
        self,
        paths: list[str],
        settings: Settings,
        *,
        force: bool = False,
        roots: list[Path] | None = None,
    ) -> IndexJob:
        """Start indexing; with ``roots``, files found outside them (through links) are refused
        and reported as failed, never opened. Returns at once: the folders are walked on the
        job's thread."""
        job = _Job(job_id=uuid.uuid4().hex[:12], started_at=datetime.now(UTC))
        with self._lock:
            self._evict()
            self._jobs[job.job_id] = job
        thread = threading.Thread(
            target=self._run,
            args=(job, list(paths), settings, force, roots),
            name=f"index-{job.job_id}",
            daemon=True,
        )
        thread.start()
        return self.get(job.job_id)

    def get(self, job_id: str, offset: int = 0, limit: int = JOB_PAGE_MAX) -> IndexJob:
        with self._lock:
            self._evict()
            job = self._jobs.get(job_id.strip())
            if job is None:
                raise JobNotFoundError(
                    f"no index job {job_id[:40]!r}: a job id comes from index_video, and a "
                    f"finished job is kept for {self.keep_seconds / 60:g} minutes"
                )
            return job.view(max(0, offset), max(1, min(limit, JOB_PAGE_MAX)))

    def listen(self, job_id: str) -> queue.Queue:
        """A queue that receives the job's progress events and a final None."""
        q: queue.Queue = queue.Queue()
        with self._lock:
            job = self._jobs[job_id]
            if job.state in ("finished", "failed"):
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
            if event is not None:
                job.current = event
            for key, value in changes.items():
                setattr(job, key, value)
            ended = job.state in ("finished", "failed")
            if ended:
                job.ended = time.monotonic()
            listeners = list(job.listeners)
            if ended:
                job.listeners = []
        if ended or event is not None:
            for q in listeners:
                q.put(None if ended else event)

    def _list_files(self, job: _Job, paths: list[str], roots: list[Path] | None) -> list[str]:
        files = []
        for path in expand_paths(paths):
            try:
                files.append(str(confine(str(path), roots) if roots is not None else path))
            except MediaAccessError as exc:
                with self._lock:
                    job.results.append(
                        IndexOutcome(path=str(path), status="failed", reason=str(exc))
                    )
        with self._lock:
            job.files_total = len(files) + len(job.results)
        return files

    def _run(
        self,
        job: _Job,
        paths: list[str],
        settings: Settings,
        force: bool,
        roots: list[Path] | None,
    ) -> None:
        try:
            files = self._list_files(job, paths, roots)
            with self._one_at_a_time:
                self._update(job, state="running")

                def on_result(outcome: IndexOutcome) -> None:
                    with self._lock:
                        job.results.append(outcome)

                if files:  # the model is worked out once, for the encoder and the run
                    settings = writer_settings(self.store, settings)
                index_paths(
                    files,
                    settings,
                    store=self.store,
                    encoder=self.encoder(settings) if files else None,
                    force=force,
                    progress=lambda e: self._update(job, e),
                    on_result=on_result,
                    build_in_background=True,  # the server searches meanwhile
                )
        except Exception as exc:  # e.g. the model cannot be loaded: the whole job fails
            log.exception("index job %s failed", job.job_id)
            self._update(job, state="failed", error=str(exc), finished_at=datetime.now(UTC))
            return
        self._update(job, state="finished", finished_at=datetime.now(UTC))
