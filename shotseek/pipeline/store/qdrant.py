"""The server engine: a Qdrant server through qdrant-client (``SHOTSEEK_QDRANT_URL``), for teams
and for collections past one machine. The only module that imports ``qdrant_client``.

qdrant-client's local mode (``path=``, a brute-force scan in Python) is reachable here too: it
stands in for a server in the congruence tests, and it is how stores made by shotseek before Qdrant
Edge are read when they are migrated (:mod:`.migrate`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from shotseek.pipeline.config import FUSION_CANDIDATES, RRF_K
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

_PAGE = 256
_FACET_LIMIT = 1_000_000
_SCHEMA = {
    "keyword": models.PayloadSchemaType.KEYWORD,
    "integer": models.PayloadSchemaType.INTEGER,
    "float": models.PayloadSchemaType.FLOAT,
}


class QdrantEngine:
    """Collections in a Qdrant server (``url``) or in qdrant-client's local mode (``path``)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        hnsw_ef: int | None = None,
    ) -> None:
        self.location = url or str(path)
        self.hnsw_ef = hnsw_ef
        self.is_server = url is not None
        self._lock = threading.RLock()  # the local mode is not thread-safe
        try:
            if url is not None:
                self.client = QdrantClient(url=url, api_key=api_key)
                self.client.get_collections()  # fail now, not mid-run
            else:
                self.client = QdrantClient(path=str(path))
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreUnavailableError(
                    f"the store {self.location} is in use by another shotseek process; wait for "
                    "it to finish"
                ) from exc
            raise StoreUnavailableError(f"cannot open the store at {self.location}: {exc}") from exc
        except Exception as exc:
            raise StoreUnavailableError(
                f"cannot reach the Qdrant server at {self.location} ({exc}); is it running? "
                "Unset SHOTSEEK_QDRANT_URL to use the embedded store instead"
            ) from exc

    def close(self) -> None:
        with self._lock:
            self.client.close()

    # -- collections -------------------------------------------------------------------------

    def collections(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            names = [c.name for c in self.client.get_collections().collections]
            return {n: dict(self.client.get_collection(n).config.metadata or {}) for n in names}

    def exists(self, name: str) -> bool:
        with self._lock:
            return self.client.collection_exists(name)

    def create(
        self,
        name: str,
        *,
        dim: int | None,
        metadata: dict[str, Any],
        indexes: Mapping[str, FieldType],
    ) -> None:
        with self._lock:
            dense = (
                {VECTOR: models.VectorParams(size=dim, distance=models.Distance.COSINE)}
                if dim is not None
                else {}
            )
            self.client.create_collection(
                name,
                vectors_config=dense,
                sparse_vectors_config={
                    TEXT_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                },
                metadata=metadata,
            )
            if self.is_server:  # the local mode has no payload indexes (it scans)
                for key, kind in indexes.items():
                    self.client.create_payload_index(name, key, field_schema=_SCHEMA[kind])

    def describe(self, name: str) -> Collection:
        with self._lock:
            info = self.client.get_collection(name)
        return Collection(
            name=name,
            metadata=dict(info.config.metadata or {}),
            points=info.points_count or 0,
            indexed=info.indexed_vectors_count or 0,
        )

    # -- writes ------------------------------------------------------------------------------

    def upsert(self, name: str, points: Sequence[Point]) -> None:
        if not points:
            return
        with self._lock:
            self.client.upsert(name, points=[_to_struct(p) for p in points])

    def delete(self, name: str, where: Where) -> None:
        with self._lock:
            self.client.delete(name, points_selector=models.FilterSelector(filter=_filter(where)))

    def delete_ids(self, name: str, ids: Sequence[str]) -> None:
        with self._lock:
            self.client.delete(name, points_selector=models.PointIdsList(points=list(ids)))

    def set_payload(self, name: str, payload: dict[str, Any], where: Where) -> None:
        with self._lock:
            self.client.set_payload(name, payload=payload, points=_filter(where))

    def set_caption(self, name: str, point_id: str, caption: Sparse, payload: dict) -> None:
        with self._lock:
            self.client.update_vectors(
                name,
                points=[models.PointVectors(id=point_id, vector={TEXT_VECTOR: _sparse(caption)})],
            )
            self.client.set_payload(name, payload=payload, points=[point_id])

    # -- reads -------------------------------------------------------------------------------

    def retrieve(self, name: str, ids: Sequence[str], *, vectors: bool = False) -> list[Point]:
        if not ids:
            return []
        with self._lock:
            records = self.client.retrieve(
                name, list(ids), with_payload=True, with_vectors=[VECTOR] if vectors else False
            )
        return [_from_record(r) for r in records]

    def scroll(self, name: str, where: Where | None, *, vectors: bool = False) -> Iterator[Point]:
        offset = None
        while True:
            with self._lock:
                records, offset = self.client.scroll(
                    name,
                    scroll_filter=_filter(where),
                    limit=_PAGE,
                    offset=offset,
                    with_payload=True,
                    with_vectors=[VECTOR] if vectors else False,
                )
            yield from (_from_record(r) for r in records)
            if offset is None:
                return

    def count(self, name: str, where: Where | None) -> int:
        with self._lock:
            return self.client.count(name, count_filter=_filter(where), exact=True).count

    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        with self._lock:
            response = self.client.facet(
                name, key=key, facet_filter=_filter(where), limit=_FACET_LIMIT, exact=True
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
        params = models.SearchParams(hnsw_ef=self.hnsw_ef, exact=exact)
        legs: list[tuple[Any, str]] = []
        if nearest is not None:
            legs.append((models.NearestQuery(nearest=_dense(nearest)), VECTOR))
        if text is not None:
            legs.append((models.NearestQuery(nearest=_sparse(text)), TEXT_VECTOR))
        if not legs:
            recommend = models.RecommendInput(
                positive=[_dense(v) for v in positives] or None,
                negative=[_dense(v) for v in negatives] or None,
                strategy=models.RecommendStrategy.BEST_SCORE,
            )
            legs.append((models.RecommendQuery(recommend=recommend), VECTOR))
        flt = _filter(where)
        if len(legs) == 1:
            query, using = legs[0]
            kwargs: dict[str, Any] = {
                "query": query,
                "using": using,
                "query_filter": flt,
                "score_threshold": score_threshold,
                "search_params": params,
            }
        else:  # both pictures and captions: each ranking fetched, then fused by rank
            size = max(limit, FUSION_CANDIDATES)
            kwargs = {
                "prefetch": [
                    models.Prefetch(query=q, using=u, filter=flt, limit=size, params=params)
                    for q, u in legs
                ],
                "query": models.RrfQuery(rrf=models.Rrf(k=RRF_K)),
            }
        with self._lock:
            found = self.client.query_points(name, limit=limit, with_payload=True, **kwargs).points
        return [(_from_record(p), float(p.score)) for p in found]

    def build_index(self, name: str, *, background: bool = False) -> bool:
        return False  # a server builds its index in the background by itself


def _dense(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).astype(float).tolist()


def _sparse(vector: Sparse) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _to_struct(point: Point) -> models.PointStruct:
    vectors: dict[str, Any] = {}
    if point.vector is not None:
        vectors[VECTOR] = _dense(point.vector)
    if point.caption is not None:
        vectors[TEXT_VECTOR] = _sparse(point.caption)
    return models.PointStruct(id=point.id, vector=vectors, payload=point.payload)


def _from_record(record: Any) -> Point:
    vectors = record.vector if isinstance(record.vector, dict) else {}
    vector = vectors.get(VECTOR)
    return Point(
        id=str(record.id),
        payload=dict(record.payload or {}),
        vector=None if vector is None else np.asarray(vector, dtype=np.float32),
    )


def _filter(where: Where | None) -> models.Filter | None:
    if where is None:
        return None
    must: list[Any] = [
        models.FieldCondition(key=k, match=models.MatchValue(value=v))
        for k, v in where.equals.items()
    ]
    must += [
        models.FieldCondition(key=k, match=models.MatchAny(any=list(v)))
        for k, v in where.any_of.items()
    ]
    must += [
        models.FieldCondition(key=k, range=models.Range(gt=v)) for k, v in where.greater.items()
    ]
    must += [models.FieldCondition(key=k, range=models.Range(lt=v)) for k, v in where.less.items()]
    must_not: list[Any] = [
        models.FieldCondition(key=k, match=models.MatchAny(any=list(v)))
        for k, v in where.none_of.items()
        if v
    ]
    if where.not_ids:
        must_not.append(models.HasIdCondition(has_id=list(where.not_ids)))
    return models.Filter(must=must or None, must_not=must_not or None)
