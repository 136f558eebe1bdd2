"""Background indexing jobs: long runs that outlive the request (and the client) that began them.

A chat client times out long tool calls, and an hour of footage can take an hour on a CPU, so the
MCP server starts indexing as a job on a worker thread, waits a little, and otherwise answers
with a job id to poll. Jobs live as long as the server process.
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import ClipEncoder
from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.index import expand_paths, index_paths
from shotseek.pipeline.media import MediaAccessError, confine
from shotseek.pipeline.models import IndexOutcome, ProgressEvent
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)

JobState = Literal["running", "finished", "failed"]


class IndexJob(BaseModel):
    """The state of one indexing job."""

    job_id: str
    state: JobState
    paths: list[str] = Field(description="The files the job indexes, in order.")
    started_at: datetime
    finished_at: datetime | None = None
    current: ProgressEvent | None = Field(None, description="The latest progress event.")
    results: list[IndexOutcome] = Field(default_factory=list, description="Files done so far.")
    error: str | None = Field(None, description="Why the whole job stopped, if it did.")

    @property
    def files_total(self) -> int:
        return len(self.paths)


class IndexJobs:
    """Runs index jobs one at a time on a worker thread, in the order they were asked for."""

    def __init__(self, store: ShotStore, encoder: Callable[[Settings], ClipEncoder]) -> None:
        self.store = store
        self.encoder = encoder
        self._jobs: dict[str, IndexJob] = {}
        self._listeners: dict[str, list[queue.Queue]] = {}
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
        and reported as failed, never opened."""
        files, refused = [], []
        for path in expand_paths(paths):
            try:
                files.append(str(confine(str(path), roots) if roots is not None else path))
            except MediaAccessError as exc:
                refused.append(IndexOutcome(path=str(path), status="failed", reason=str(exc)))
        job = IndexJob(
            job_id=uuid.uuid4().hex[:12],
            state="running",
            paths=files,
            started_at=datetime.now(UTC),
            results=refused,
        )
        with self._lock:
            self._jobs[job.job_id] = job
            self._listeners[job.job_id] = []
        thread = threading.Thread(
            target=self._run,
            args=(job.job_id, settings, force),
            name=f"index-{job.job_id}",
            daemon=True,
        )
        thread.start()
        return self.get(job.job_id)

    def get(self, job_id: str) -> IndexJob:
        with self._lock:
            job = self._jobs.get(job_id.strip())
            if job is None:
                known = ", ".join(sorted(self._jobs)) or "none"
                raise ShotseekError(
                    f"no index job {job_id!r} (jobs live as long as the server process; "
                    f"known: {known})"
                )
            return job.model_copy(deep=True)

    def listen(self, job_id: str) -> queue.Queue:
        """A queue that receives the job's progress events and a final None."""
        q: queue.Queue = queue.Queue()
        with self._lock:
            if self._jobs[job_id].state != "running":
                q.put(None)
            else:
                self._listeners[job_id].append(q)
        return q

    def unlisten(self, job_id: str, q: queue.Queue) -> None:
        """Stop feeding a queue from :meth:`listen` (its reader has gone)."""
        with self._lock:
            if q in self._listeners.get(job_id, []):
                self._listeners[job_id].remove(q)

    def _update(self, job_id: str, event: ProgressEvent | None = None, **changes) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if event is not None:
                job.current = event
            for key, value in changes.items():
                setattr(job, key, value)
            listeners = list(self._listeners[job_id])
            if job.state != "running":
                self._listeners[job_id] = []
        for q in listeners:
            q.put(event if job.state == "running" else None)

    def _run(self, job_id: str, settings: Settings, force: bool) -> None:
        with self._one_at_a_time:
            paths = self.get(job_id).paths

            def on_result(outcome: IndexOutcome) -> None:
                with self._lock:
                    self._jobs[job_id].results.append(outcome)

            try:
                index_paths(
                    paths,
                    settings,
                    store=self.store,
                    encoder=self.encoder(settings),
                    force=force,
                    progress=lambda e: self._update(job_id, e),
                    on_result=on_result,
                )
            except Exception as exc:  # e.g. the model cannot be loaded: the whole job fails
                log.exception("index job %s failed", job_id)
                self._update(job_id, state="failed", error=str(exc), finished_at=datetime.now(UTC))
                return
            self._update(job_id, state="finished", finished_at=datetime.now(UTC))
