"""Indexing files and folders: one runner chosen for the whole batch, over the one-video pieces
of :mod:`shotseek.pipeline.index` (as clip-retrieval's distributors each call one worker).

* one file after the other, in this process;
* several files decoded at once by processes of their own (:mod:`shotseek.pipeline.parallel`);
* a Ray cluster (:mod:`shotseek.pipeline.cluster`, the only importer of ray; loaded when asked).

A broken file is reported with its reason and the others are indexed; the whole run is the
store's one writer in this process (:meth:`ShotStore.writer`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from shotseek.pipeline import parallel
from shotseek.pipeline.catalog import writer_settings
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import ClipEncoder, get_encoder
from shotseek.pipeline.index import ProgressCallback, Reporter, failed_outcome, index_video
from shotseek.pipeline.media import expand_paths
from shotseek.pipeline.models import IndexOutcome, IndexReport, ProgressEvent
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)


def index_paths(
    paths: Iterable[str | Path],
    settings: Settings,
    *,
    store: ShotStore,
    encoder: ClipEncoder | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
    on_result: Callable[[IndexOutcome], None] | None = None,
    build_in_background: bool = False,
) -> IndexReport:
    """Index files and folders; a file that fails is reported with its reason and skipped.
    Then the store's search index is built over the new shots: here, or (a server, which
    searches meanwhile) ``build_in_background``.

    ``on_result`` hears each file's outcome as soon as it is known."""
    files = expand_paths(paths)
    if not files:
        return IndexReport(results=[])
    settings = writer_settings(store, settings)
    if settings.ray:  # a missing Ray or an unreachable cluster is said before the model loads
        from shotseek.pipeline.cluster import connect, index_on_ray  # ray: only when asked for

        connect(settings.ray)
    encoder = encoder or get_encoder(settings)
    with store.writer():  # another index run in this process waits for this one
        removed = store.collect_garbage(encoder.model_id)
        if removed:
            log.info("removed %d shots left by an interrupted run", removed)
        results: list[IndexOutcome] = []

        def done(outcome: IndexOutcome) -> None:
            results.append(outcome)
            if on_result is not None:
                on_result(outcome)

        if settings.ray:
            index_on_ray(
                files,
                settings,
                store=store,
                encoder=encoder,
                force=force,
                progress=progress,
                on_result=done,
            )
        elif (processes := parallel.processes_for(settings, encoder, len(files))) > 1:
            parallel.index_in_processes(
                files,
                settings,
                store=store,
                encoder=encoder,
                force=force,
                processes=processes,
                progress=progress,
                on_result=done,
            )
        else:
            for number, path in enumerate(files, start=1):
                started = time.perf_counter()
                report = Reporter(progress, path, number, len(files))
                try:
                    outcome = index_video(
                        path,
                        settings,
                        store=store,
                        encoder=encoder,
                        force=force,
                        progress=progress,
                        file_number=number,
                        file_count=len(files),
                    )
                except Exception as exc:
                    outcome = failed_outcome(path, exc, started, report)
                done(outcome)
    rank = {str(path): number for number, path in enumerate(files)}
    results.sort(key=lambda r: rank.get(r.path, len(rank)))  # a cluster finishes in any order
    if any(r.status == "indexed" for r in results):
        if progress is not None and not build_in_background:
            if store.index_state(encoder.model_id).build_due:
                progress(
                    ProgressEvent(
                        path=store.location,
                        file_number=len(files),
                        file_count=len(files),
                        stage="search index",
                    )
                )
        store.build_index(encoder.model_id, background=build_in_background)
    return IndexReport(results=results)
