"""Stores as shotseek wrote them before Qdrant Edge (qdrant-client's local mode in
``<data dir>/qdrant``, boolean ``active`` flags, no layout in the collection metadata), to test
and measure their migration."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from shotseek.pipeline.models import Shot, VideoRecord
from shotseek.pipeline.store.engine import Point
from shotseek.pipeline.store.qdrant import QdrantEngine
from shotseek.pipeline.store.shots import shots_collection, video_point_id, videos_collection
from tests.kit.shots import synthetic_run


def write_legacy_store(
    data_dir: Path,
    runs: Iterable[tuple[VideoRecord, list[Shot], np.ndarray]],
    *,
    spec: dict | None = None,
    stale: int = 2,
) -> None:
    """Write the runs the old way, each video with ``stale`` inactive shots of a replaced run
    left beside its current ones (as a killed re-index of the old store could leave)."""
    engine = QdrantEngine(path=str(data_dir / "qdrant"))
    try:
        for record, shots, vectors in runs:
            model_id, dim = record.model_id, int(vectors.shape[1])
            if not engine.exists(shots_collection(model_id)):
                meta = {"model_id": model_id, "dim": dim, "spec": spec or {}}
                engine.create(shots_collection(model_id), dim=dim, metadata=meta, indexes={})
                engine.create(
                    videos_collection(model_id),
                    dim=None,
                    metadata={"model_id": model_id, "dim": dim},
                    indexes={},
                )
            _, replaced = synthetic_run(
                record.video_id, vectors[:stale], run_id=f"{record.run_id}-replaced"
            )
            batches = ((shots, record.run_id, True), (replaced, f"{record.run_id}-replaced", False))
            points = [
                Point(s.shot_id, {**s.model_dump(mode="json"), "run_id": run, "active": on}, v)
                for batch, run, on in batches
                for s, v in zip(batch, vectors)
            ]
            for i in range(0, len(points), 256):
                engine.upsert(shots_collection(model_id), points[i : i + 256])
            engine.upsert(
                videos_collection(model_id),
                [Point(video_point_id(record.video_id), record.model_dump(mode="json"))],
            )
    finally:
        engine.close()
