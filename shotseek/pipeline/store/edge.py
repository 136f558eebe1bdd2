"""The embedded engine: Qdrant Edge (``qdrant-edge-py``), Qdrant's own engine in this process.
The only module that imports ``qdrant_edge``.

One Edge shard per collection, in ``<root>/<name>/``, with the collection's metadata beside it in
``<root>/<name>.json`` (a collection exists once that file does: it is written after the shard,
so a shard left without it by a killed process is empty and is made again). An exclusive lock on
``<root>/.lock`` keeps a second process out: Edge is one process's store.

Writes go to Edge's write-ahead log before they are applied, so each call here survives a kill of
the process whole or not at all. Searches are exact (brute force) over vectors until
:meth:`EdgeEngine.build_index` builds the HNSW graph. Edge holds the interpreter while it builds,
so a server builds aside: a copy of the shard is optimized by a child process while searches go
on, then swapped in (unless a write came in meanwhile: then the next run builds again). A swap
interrupted by a kill is finished or undone when the store is next opened.
Edge 0.9 reads ``MatchValue(True)`` as the integer 1, so shotseek filters no booleans: flags are
stored as 0/1 integers.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import qdrant_edge as qe

from shotseek.pipeline.config import (
    FUSION_CANDIDATES,
    HNSW_EF_CONSTRUCT,
    HNSW_M,
    INDEX_THRESHOLD_KB,
    RESCORE_OVERSAMPLING,
    RRF_K,
)
from shotseek.pipeline.errors import StoreUnavailableError
from shotseek.pipeline.store.engine import (
    TEXT_VECTOR,
    VECTOR,
    Collection,
    FieldType,
    Point,
    Sparse,
    Where,
)

log = logging.getLogger(__name__)

_PAGE = 512
_FACET_LIMIT = 1_000_000
_SCHEMA = {
    "keyword": qe.PayloadSchemaType.Keyword,
    "integer": qe.PayloadSchemaType.Integer,
    "float": qe.PayloadSchemaType.Float,
}
LOCK_NAME = ".lock"
_BUILDING, _REPLACED = ".build", ".old"  # a shard being optimized aside; one being swapped out
_BUILD_ASIDE = (
    "import sys, qdrant_edge as qe; shard = qe.EdgeShard.load(sys.argv[1]); shard.optimize(); "
    "shard.close()"
)


class EdgeEngine:
    """Collections as Qdrant Edge shards under one folder, for one process at a time."""

    def __init__(
        self,
        root: Path,
        *,
        hnsw_ef: int | None = None,
        quantize: bool = False,
        index_threshold_kb: int = INDEX_THRESHOLD_KB,
    ) -> None:
        self.root = Path(root)
        self.location = str(self.root)
        self.hnsw_ef = hnsw_ef
        self.quantize = quantize
        self.index_threshold_kb = index_threshold_kb
        self._lock = threading.RLock()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._writes: dict[str, int] = {}  # per collection: tells a build aside it is stale
        self._builders: dict[str, subprocess.Popen | None] = {}  # None: copying, not started
        self._closed = False
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._lock_file = open(self.root / LOCK_NAME, "a+")  # noqa: SIM115 (held while open)
        except OSError as exc:
            raise StoreUnavailableError(
                f"cannot open the store at {self.root} ({exc.strerror or exc}); check that the "
                "folder is writable or set SHOTSEEK_DATA_DIR to one that is"
            ) from exc
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise StoreUnavailableError(
                f"the embedded store {self.root} is in use by another shotseek process (an "
                "index run?); it allows one process at a time: wait for it to finish. (A running "
                "`shotseek serve` is reached through it: the CLI does that by itself.) For "
                "concurrent access by many processes run a Qdrant server (docker run -p "
                "6333:6333 qdrant/qdrant) and set SHOTSEEK_QDRANT_URL=http://localhost:6333"
            ) from exc
        self._finish_swaps()

    def _finish_swaps(self) -> None:
        """Complete or undo what a process killed during a build aside left."""
        for replaced in self.root.glob(f"*{_REPLACED}"):
            live = replaced.with_name(replaced.name.removesuffix(_REPLACED))
            if live.exists():
                shutil.rmtree(replaced)
            else:
                replaced.rename(live)
        for building in self.root.glob(f"*{_BUILDING}"):
            shutil.rmtree(building, ignore_errors=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for builder in self._builders.values():
                if builder is not None:
                    builder.kill()
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            if not self._lock_file.closed:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                self._lock_file.close()

    def _meta_path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is None:
            if not self._meta_path(name).exists():
                raise KeyError(name)
            shard = self._shards[name] = qe.EdgeShard.load(str(self.root / name))
        return shard

    # -- collections -------------------------------------------------------------------------

    def collections(self) -> dict[str, dict[str, Any]]:
        with self._lock:  # not in the middle of a swap
            return {
                path.stem: json.loads(path.read_text())
                for path in sorted(self.root.glob("*.json"))
                if (self.root / path.stem).is_dir()
            }

    def exists(self, name: str) -> bool:
        with self._lock:
            return self._meta_path(name).exists() and (self.root / name).is_dir()

    def create(
        self,
        name: str,
        *,
        dim: int | None,
        metadata: dict[str, Any],
        indexes: Mapping[str, FieldType],
    ) -> None:
        with self._lock:
            folder = self.root / name
            if folder.exists():  # made by a process killed before it wrote the metadata
                shutil.rmtree(folder)
            sparse = {TEXT_VECTOR: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
            dense = {}
            if dim is not None:
                # quantized: int8 copies in memory for the graph, the originals on disk, read
                # to rescore the best candidates; otherwise the originals are memory-mapped
                params = (
                    {
                        "quantization_config": qe.ScalarQuantizationConfig(
                            type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
                        ),
                        "memory": qe.Memory.Cold,
                    }
                    if self.quantize
                    else {}
                )
                dense = {
                    VECTOR: qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, **params)
                }
            config = qe.EdgeConfig(
                vectors=dense,
                sparse_vectors=sparse,
                hnsw_config=qe.HnswIndexConfig(
                    m=HNSW_M,
                    ef_construct=HNSW_EF_CONSTRUCT,
                    full_scan_threshold=self.index_threshold_kb,
                ),
                optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self.index_threshold_kb),
            )
            shard = qe.EdgeShard.create(str(folder), config)
            for key, kind in indexes.items():
                shard.update(qe.UpdateOperation.create_field_index(key, _SCHEMA[kind]))
            shard.flush()
            tmp = self._meta_path(name).with_suffix(".json.tmp")
            tmp.write_text(json.dumps(metadata))
            os.replace(tmp, self._meta_path(name))
            self._shards[name] = shard

    def describe(self, name: str) -> Collection:
        with self._lock:
            info = self._shard(name).info()
            metadata = json.loads(self._meta_path(name).read_text())
            outside_kb = (
                (info.points_count - info.indexed_vectors_count) * 4 * metadata["dim"] / 1024
            )
            return Collection(
                name=name,
                metadata=metadata,
                points=info.points_count,
                indexed=info.indexed_vectors_count,
                building=name in self._builders,
                build_due=outside_kb > self.index_threshold_kb,
            )

    # -- writes ------------------------------------------------------------------------------

    def _apply(self, name: str, operation: qe.UpdateOperation) -> None:
        with self._lock:
            self._writes[name] = self._writes.get(name, 0) + 1
            self._shard(name).update(operation)

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        self._apply(name, qe.UpdateOperation.upsert_points([_to_edge(p) for p in points]))

    def delete(self, name: str, where: Where) -> None:
        self._apply(name, qe.UpdateOperation.delete_points_by_filter(_filter(where)))

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        self._apply(name, qe.UpdateOperation.delete_points(list(ids)))

    def set_payload(self, name: str, payload: dict[str, Any], where: Where) -> None:
        self._apply(name, qe.UpdateOperation.set_payload_by_filter(_filter(where), payload))

    def set_caption(self, name: str, point_id: str, caption: Sparse, payload: dict) -> None:
        with self._lock:
            self._apply(
                name,
                qe.UpdateOperation.update_vectors(
                    [qe.PointVectors(point_id, {TEXT_VECTOR: _sparse(caption)})]
                ),
            )
            self._apply(name, qe.UpdateOperation.set_payload([point_id], payload))

    # -- reads -------------------------------------------------------------------------------

    def retrieve(self, name: str, ids: Sequence[str], *, vectors: bool = False) -> list[Point]:
        if not ids:
            return []
        with self._lock:
            records = self._shard(name).retrieve(
                list(ids), with_payload=True, with_vector=[VECTOR] if vectors else False
            )
        return [_from_edge(r) for r in records]

    def scroll(self, name: str, where: Where | None, *, vectors: bool = False) -> Iterator[Point]:
        offset = None
        while True:
            with self._lock:
                records, offset = self._shard(name).scroll(
                    qe.ScrollRequest(
                        offset=offset,
                        limit=_PAGE,
                        filter=_filter(where),
                        with_payload=True,
                        with_vector=[VECTOR] if vectors else False,
                    )
                )
            yield from (_from_edge(r) for r in records)
            if offset is None:
                return

    def count(self, name: str, where: Where | None) -> int:
        with self._lock:
            return self._shard(name).count(qe.CountRequest(filter=_filter(where), exact=True))

    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        with self._lock:
            response = self._shard(name).facet(
                qe.FacetRequest(key=key, limit=_FACET_LIMIT, exact=True, filter=_filter(where))
            )
        return {str(hit.value): hit.count for hit in response.hits}

    def query(
        self,
        name: str,
        *,
        nearest: np.ndarray | None = None,
        positives: Sequence[np.ndarray] = (),
        negatives: Sequence[np.ndarray] = (),
        text: Sparse | None = None,
        where: Where | None = None,
        limit: int,
        score_threshold: float | None = None,
        exact: bool = False,
    ) -> list[tuple[Point, float]]:
        params = qe.SearchParams(
            hnsw_ef=self.hnsw_ef,
            exact=exact,
            quantization=qe.QuantizationSearchParams(  # exact: the full vectors only
                ignore=exact, rescore=True, oversampling=RESCORE_OVERSAMPLING
            )
            if self.quantize
            else None,
        )
        legs = []
        if nearest is not None:
            legs.append(qe.Query.Nearest(_dense(nearest), using=VECTOR))
        if text is not None:
            legs.append(qe.Query.Nearest(_sparse(text), using=TEXT_VECTOR))
        if not legs:
            legs.append(
                qe.Query.RecommendBestScore(
                    qe.RecommendQuery(
                        positives=[_dense(v) for v in positives],
                        negatives=[_dense(v) for v in negatives],
                    ),
                    using=VECTOR,
                )
            )
        flt = _filter(where)
        if len(legs) == 1:
            request = qe.QueryRequest(
                limit=limit,
                query=legs[0],
                filter=flt,
                with_payload=True,
                score_threshold=score_threshold,
                params=params,
            )
        else:  # both pictures and captions: each ranking fetched, then fused by rank
            size = max(limit, FUSION_CANDIDATES)
            request = qe.QueryRequest(
                limit=limit,
                prefetches=[qe.Prefetch(size, query=q, filter=flt, params=params) for q in legs],
                query=qe.Fusion.Rrf(k=RRF_K),
                with_payload=True,
            )
        with self._lock:
            found = self._shard(name).query(request)
        return [(_from_edge(p), float(p.score)) for p in found]

    def build_index(self, name: str, *, background: bool = False) -> bool:
        """Build the HNSW graph over what is not indexed yet. ``background``: aside, in a child
        process, while searches go on (returns at once; True if a build was started)."""
        if not background:
            with self._lock:
                shard = self._shard(name)
                built = shard.optimize()
                shard.flush()
                return built
        with self._lock:
            if name in self._builders or self._closed:
                return False
            self._shard(name).flush()
            self._builders[name] = None
        threading.Thread(
            target=self._build_aside, args=(name,), name=f"build-{name}", daemon=True
        ).start()
        return True

    def _build_aside(self, name: str) -> None:
        live = self.root / name
        aside = self.root / (name + _BUILDING)
        try:
            with self._lock:
                writes = self._writes.get(name, 0)
            shutil.rmtree(aside, ignore_errors=True)
            shutil.copytree(live, aside)  # a write meanwhile makes the copy stale: checked below
            with self._lock:
                if self._closed:
                    return
                builder = self._builders[name] = subprocess.Popen(
                    [sys.executable, "-c", _BUILD_ASIDE, str(aside)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            _, problem = builder.communicate()
            with self._lock:
                if builder.returncode != 0 or self._closed:
                    if not self._closed:
                        log.warning("building the search index of %s failed: %s", name, problem)
                    return
                if self._writes.get(name, 0) != writes:
                    log.info("%s changed while its search index was built; built next time", name)
                    return
                self._shards.pop(name).close()
                replaced = self.root / (name + _REPLACED)
                live.rename(replaced)
                aside.rename(live)
                self._shards[name] = qe.EdgeShard.load(str(live))
                shutil.rmtree(replaced)
        except Exception:
            log.exception("building the search index of %s failed", name)
        finally:
            with self._lock:
                self._builders.pop(name, None)
            shutil.rmtree(aside, ignore_errors=True)


def _dense(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).tolist()


def _sparse(vector: Sparse) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _to_edge(point: Point) -> qe.Point:
    vectors: dict[str, Any] = {}
    if point.vector is not None:
        vectors[VECTOR] = _dense(point.vector)
    if point.caption is not None:
        vectors[TEXT_VECTOR] = _sparse(point.caption)
    return qe.Point(point.id, vectors, point.payload)


def _from_edge(record: Any) -> Point:
    vectors = record.vector or {}
    vector = vectors.get(VECTOR) if isinstance(vectors, dict) else None
    return Point(
        id=str(record.id),
        payload=dict(record.payload or {}),
        vector=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


def _filter(where: Where | None) -> qe.Filter | None:
    if where is None:
        return None
    must: list[Any] = [
        qe.FieldCondition(key=k, match=qe.MatchValue(v)) for k, v in where.equals.items()
    ]
    must += [qe.FieldCondition(key=k, match=qe.MatchAny(list(v))) for k, v in where.any_of.items()]
    must += [qe.FieldCondition(key=k, range=qe.RangeFloat(gt=v)) for k, v in where.greater.items()]
    must += [qe.FieldCondition(key=k, range=qe.RangeFloat(lt=v)) for k, v in where.less.items()]
    must_not: list[Any] = [
        qe.FieldCondition(key=k, match=qe.MatchAny(list(v))) for k, v in where.none_of.items() if v
    ]
    if where.not_ids:
        must_not.append(qe.HasIdCondition(set(where.not_ids)))
    return qe.Filter(must=must or None, must_not=must_not or None)
