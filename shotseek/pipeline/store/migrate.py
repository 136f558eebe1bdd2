"""Moving a store written by shotseek before Qdrant Edge (qdrant-client's local mode, in
``<data dir>/qdrant``) into the Edge engine, without re-embedding anything: the vectors are read
back as they were stored.

Each video is copied with :meth:`ShotStore.write_run` (so a kill leaves it absent or complete),
videos already copied are skipped, and the old folder is renamed ``qdrant.migrated`` only once
every video is in: an interrupted migration resumes where it stopped, and nothing is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shotseek.pipeline.config import Settings
from shotseek.pipeline.models import IndexedModel, MigrationReport, Shot, VideoRecord
from shotseek.pipeline.store.engine import Engine, Where
from shotseek.pipeline.store.shots import ShotStore, shots_collection, videos_collection

log = logging.getLogger(__name__)

#: Hears (videos done, videos in all, the video just copied).
MigrationProgress = Callable[[int, int, VideoRecord], None]


def migrate_store(
    settings: Settings, progress: MigrationProgress | None = None
) -> MigrationReport | None:
    """``shotseek migrate``: move the older embedded store in the data dir into Qdrant Edge
    now (opening the store does it too). None when there is none to move."""
    from shotseek.pipeline.store import edge_engine

    if not settings.legacy_store_path.is_dir():
        return None
    engine = edge_engine(settings)
    try:
        return migrate_legacy(settings, engine, progress)
    finally:
        engine.close()


def migrate_legacy(
    settings: Settings, target: Engine, progress: MigrationProgress | None = None
) -> MigrationReport:
    """Copy every video of the old embedded store into ``target``, then set the old folder
    aside. Safe to interrupt and to run again."""
    from shotseek.pipeline.store.qdrant import QdrantEngine

    started = time.perf_counter()
    legacy_path = settings.legacy_store_path
    source = QdrantEngine(path=str(legacy_path))
    store = ShotStore(settings, engine=target)  # not closed here: the caller owns the engine
    copied = skipped = shots = 0
    models: list[str] = []
    try:
        plan = _legacy_videos(source)
        total = sum(len(records) for _, records in plan)
        if total:
            log.info(
                "moving %d videos from %s to Qdrant Edge in %s", total, legacy_path, target.location
            )
        done = 0
        for model, records in plan:
            model_id, dim, spec = model.model_id, model.dim, model.spec
            models.append(model_id)
            store.ensure_collections(model_id, dim, spec)
            for record in records:
                current = store.get_video(model_id, record.video_id)
                if current is not None and current.run_id == record.run_id:
                    skipped += 1
                else:
                    run = _legacy_run(source, record, dim)
                    store.write_run(record, run[0], run[1], spec)
                    copied += 1
                    shots += len(run[0])
                done += 1
                if progress is not None:
                    progress(done, total, record)
            store.build_index(model_id)
    finally:
        source.close()
    kept_at = _set_aside(legacy_path)
    log.info("old store moved to Qdrant Edge; the old folder is kept at %s", kept_at)
    return MigrationReport(
        models=models,
        videos_copied=copied,
        videos_already_there=skipped,
        shots_copied=shots,
        seconds=time.perf_counter() - started,
        old_store_kept_at=str(kept_at),
    )


def _legacy_videos(source: Engine) -> list[tuple[IndexedModel, list[VideoRecord]]]:
    plan = []
    for name, meta in source.collections().items():
        if not name.startswith("shots_") or "model_id" not in meta:
            continue
        model_id = str(meta["model_id"])
        videos = videos_collection(model_id)
        records = (
            [VideoRecord.model_validate(p.payload) for p in source.scroll(videos, None)]
            if source.exists(videos)
            else []
        )
        model = IndexedModel(model_id=model_id, dim=int(meta["dim"]), spec=meta.get("spec") or {})
        plan.append((model, sorted(records, key=lambda r: (r.path, r.video_id))))
    return plan


def _legacy_run(source: Engine, record: VideoRecord, dim: int) -> tuple[list[Shot], np.ndarray]:
    """The shots of the record's run, with their stored vectors, in time order."""
    where = Where(equals={"video_id": record.video_id, "run_id": record.run_id})
    points = sorted(
        source.scroll(shots_collection(record.model_id), where, vectors=True),
        key=lambda p: int(p.payload["index"]),
    )
    shots = [Shot.model_validate(p.payload) for p in points]
    vectors = np.stack([p.vector for p in points]) if points else np.zeros((0, dim), np.float32)
    return shots, vectors


def _set_aside(path: Path) -> Path:
    target = path.with_name(path.name + ".migrated")
    if target.exists():
        target = path.with_name(f"{path.name}.migrated-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(target)
    return target
