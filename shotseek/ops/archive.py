"""What an operation works on (:class:`Archive`) and what it reports to (:class:`Call`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import OperationCancelled
from shotseek.pipeline.jobs import IndexJobs
from shotseek.pipeline.store import ShotStore


@dataclass(frozen=True)
class Archive:
    """The settings of this call, the open store, and, in a server, its index job queue (the
    store's one writer); without one (the CLI alone) an index run happens on the caller's
    thread."""

    settings: Settings
    store: ShotStore
    jobs: IndexJobs | None = None

    def with_settings(self, settings: Settings) -> Archive:
        return replace(self, settings=settings)


def _ignore(event: Any) -> None:
    return None


@dataclass
class Call:
    """One caller's side of an operation: where its progress events go, and whether it has
    stopped waiting (Ctrl-C, a closed socket, an MCP cancellation)."""

    progress: Callable[[Any], None] = _ignore
    cancelled: threading.Event = field(default_factory=threading.Event)

    def report(self, event: Any) -> None:
        """Pass an event on; raise :class:`OperationCancelled` once the caller has gone (every
        operation's long loop reports, so this is where it stops)."""
        if self.cancelled.is_set():
            raise OperationCancelled
        self.progress(event)
