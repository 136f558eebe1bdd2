"""The shot store: the only module that talks to Qdrant.

Layout, per embedding model (vectors of different models are never compared):

* ``shots_<model>`` — one point per shot, named vector ``clip`` (cosine), payload = everything a
  hit needs to be shown (:class:`~shotseek.pipeline.models.Shot` plus ``run_id`` and ``active``);
* ``videos_<model>`` — one vector-less point per video (:class:`VideoRecord`).

The model id and dimension are kept in the collection's metadata and checked on open.

Replacing a video's shots never loses the old ones: the new run's points are written inactive,
then the video record, then they are switched active and the old run's points deleted. A run that
fails before the switch leaves the previous shots as they were (its inactive points are removed,
and any left by a killed process are collected on the next write).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from qdrant_client import QdrantClient, models

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import StoreMismatchError, StoreUnavailableError, VideoNotFoundError
from shotseek.pipeline.models import ID_NAMESPACE, IndexedModel, Shot, VideoRecord

log = logging.getLogger(__name__)

VECTOR = "clip"
_BATCH = 256


def _slug(model_id: str) -> str:
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:8]
    text = re.sub(r"[^A-Za-z0-9]+", "-", model_id).strip("-")[:40]
    return f"{text}-{digest}"


def _match(key: str, value) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


class _Serialized:
    """Passes calls to the Qdrant client one at a time: the embedded backend is not
    thread-safe, and a server (MCP) searches while it indexes on another thread."""

    def __init__(self, client: QdrantClient) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str):
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args, **kwargs):
            with self._lock:
                return attr(*args, **kwargs)

        return call


class ShotStore:
    """Shots and videos in Qdrant: embedded folder by default, a server with ``qdrant_url``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.location = settings.store_location
        try:
            if settings.qdrant_url:
                key = settings.qdrant_api_key
                client = QdrantClient(
                    url=settings.qdrant_url, api_key=key.get_secret_value() if key else None
                )
                client.get_collections()  # fail now, not mid-run
            else:
                folder = Path(self.location)
                folder.mkdir(parents=True, exist_ok=True)
                client = QdrantClient(path=str(folder))
            self.client = _Serialized(client)
        except RuntimeError as exc:
            if "already accessed" in str(exc):
                raise StoreUnavailableError(
                    f"the embedded store {self.location} is in use by another shotseek process "
                    "(an index run?); it allows one process at a time: wait for it to finish. "
                    "(A running `shotseek serve` is reached through it: the CLI does that by "
                    "itself.) For concurrent access by many processes run a Qdrant server (docker "
                    "run -p 6333:6333 qdrant/qdrant) and set SHOTSEEK_QDRANT_URL=http://localhost:6333"
                ) from exc
            raise StoreUnavailableError(f"cannot open the store at {self.location}: {exc}") from exc
        except Exception as exc:
            raise StoreUnavailableError(
                f"cannot reach the Qdrant server at {self.location} ({exc}); is it running? "
                "Unset SHOTSEEK_QDRANT_URL to use the embedded store instead"
            ) from exc

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ShotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collections -------------------------------------------------------------------------

    @staticmethod
    def shots_collection(model_id: str) -> str:
        return f"shots_{_slug(model_id)}"

    @staticmethod
    def videos_collection(model_id: str) -> str:
        return f"videos_{_slug(model_id)}"

    def models(self) -> dict[str, IndexedModel]:
        """The embedding models that have shots here, with their dimension and how each was
        loaded, read in one pass over the collections."""
        found: dict[str, IndexedModel] = {}
        for col in self.client.get_collections().collections:
            if not col.name.startswith("shots_"):
                continue
            meta = self.client.get_collection(col.name).config.metadata or {}
            if "model_id" in meta:
                model_id = str(meta["model_id"])
                found[model_id] = IndexedModel(
                    model_id=model_id, dim=int(meta["dim"]), spec=dict(meta.get("spec") or {})
                )
        return found

    def ensure_collections(self, model_id: str, dim: int, spec: dict | None = None) -> None:
        """Create the model's collections if needed; check model id and dimension if not."""
        shots = self.shots_collection(model_id)
        if self.client.collection_exists(shots):
            meta = self.client.get_collection(shots).config.metadata or {}
            if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
                raise StoreMismatchError(
                    f"collection {shots} holds {meta.get('model_id')} ({meta.get('dim')}-D), "
                    f"not {model_id} ({dim}-D); the store is inconsistent: re-index into a new "
                    "SHOTSEEK_DATA_DIR"
                )
        else:
            self.client.create_collection(
                shots,
                vectors_config={
                    VECTOR: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                },
                metadata={"model_id": model_id, "dim": dim, "spec": spec or {}},
            )
            if self.settings.qdrant_url:
                for key, schema in (
                    ("video_id", models.PayloadSchemaType.KEYWORD),
                    ("active", models.PayloadSchemaType.BOOL),
                    ("run_id", models.PayloadSchemaType.KEYWORD),
                    ("start", models.PayloadSchemaType.FLOAT),
                ):
                    self.client.create_payload_index(shots, key, field_schema=schema)
        videos = self.videos_collection(model_id)
        if not self.client.collection_exists(videos):
            self.client.create_collection(
                videos, vectors_config={}, metadata={"model_id": model_id, "dim": dim}
            )

    def _require(self, model_id: str) -> None:
        if not self.client.collection_exists(self.shots_collection(model_id)):
            raise VideoNotFoundError(f"nothing is indexed with model {model_id} in {self.location}")

    # -- videos ------------------------------------------------------------------------------

    def _video_point_id(self, video_id: str) -> str:
        return str(uuid.uuid5(ID_NAMESPACE, f"video/{video_id}"))

    def _put_video(self, record: VideoRecord) -> None:
        point = models.PointStruct(
            id=self._video_point_id(record.video_id),
            vector={},
            payload=record.model_dump(mode="json"),
        )
        self.client.upsert(self.videos_collection(record.model_id), points=[point])

    def get_video(self, model_id: str, video_id: str) -> VideoRecord | None:
        if not self.client.collection_exists(self.videos_collection(model_id)):
            return None
        points = self.client.retrieve(
            self.videos_collection(model_id), [self._video_point_id(video_id)], with_payload=True
        )
        return VideoRecord.model_validate(points[0].payload) if points else None

    def list_videos(self, model_id: str) -> list[VideoRecord]:
        self._require(model_id)
        records = [
            VideoRecord.model_validate(p.payload)
            for p in self._scroll(self.videos_collection(model_id), None)
        ]
        return sorted(records, key=lambda r: (r.path, r.video_id))

    def find_video(self, model_id: str, ref: str) -> VideoRecord:
        """A video by id (or unique id prefix), path, or file name."""
        videos = self.list_videos(model_id)
        ref = ref.strip()
        by_id = [v for v in videos if v.video_id == ref]
        if not by_id and len(ref) >= 6:
            by_id = [v for v in videos if v.video_id.startswith(ref)]
        resolved = str(Path(ref).expanduser().resolve())
        matches = (
            by_id
            or [v for v in videos if v.path == resolved]
            or [v for v in videos if v.file_name == ref]
        )
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise VideoNotFoundError(
                f"no indexed video matches {ref!r}; `shotseek videos` lists ids, paths and names"
            )
        listing = "; ".join(f"{v.video_id} {v.path}" for v in matches)
        raise VideoNotFoundError(f"{ref!r} matches several videos ({listing}); use the id")

    # -- shots -------------------------------------------------------------------------------

    def _scroll(
        self, collection: str, flt: models.Filter | None, with_vectors: bool = False
    ) -> Iterator[models.Record]:
        offset = None
        while True:
            points, offset = self.client.scroll(
                collection,
                scroll_filter=flt,
                limit=_BATCH,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            yield from points
            if offset is None:
                break

    def shots_of(self, model_id: str, video_id: str) -> list[Shot]:
        """The video's active shots, in time order."""
        self._require(model_id)
        flt = models.Filter(must=[_match("video_id", video_id), _match("active", True)])
        shots = [
            Shot.model_validate(p.payload)
            for p in self._scroll(self.shots_collection(model_id), flt)
        ]
        return sorted(shots, key=lambda s: s.index)

    def count_shots(
        self, model_id: str, video_id: str | None = None, active_only: bool = True
    ) -> int:
        self._require(model_id)
        must = [_match("video_id", video_id)] if video_id else []
        if active_only:
            must.append(_match("active", True))
        return self.client.count(
            self.shots_collection(model_id), count_filter=models.Filter(must=must), exact=True
        ).count

    def write_run(
        self,
        record: VideoRecord,
        shots: Sequence[Shot],
        vectors: np.ndarray,
        spec: dict | None = None,
    ) -> None:
        """Store a video's new index run, replacing its previous one only once it is complete."""
        if len(shots) != len(vectors):
            raise ValueError(f"{len(shots)} shots but {len(vectors)} vectors")
        model_id, video_id, run_id = record.model_id, record.video_id, record.run_id
        self.ensure_collections(model_id, int(vectors.shape[1]), spec)
        shots_col = self.shots_collection(model_id)
        this_run = models.Filter(must=[_match("video_id", video_id), _match("run_id", run_id)])
        try:
            for i in range(0, len(shots), _BATCH):
                self.client.upsert(
                    shots_col,
                    points=[
                        models.PointStruct(
                            id=shot.shot_id,
                            vector={VECTOR: vec.astype(np.float32).tolist()},
                            payload={
                                **shot.model_dump(mode="json"),
                                "run_id": run_id,
                                "active": False,
                            },
                        )
                        for shot, vec in zip(shots[i : i + _BATCH], vectors[i : i + _BATCH])
                    ],
                )
            self._put_video(record)
        except BaseException:
            self._discard(shots_col, this_run)
            raise
        # The record now names the new run: switch it on, then drop every other run.
        self.client.set_payload(shots_col, payload={"active": True}, points=this_run)
        self.client.delete(
            shots_col,
            points_selector=models.FilterSelector(
                filter=models.Filter(
                    must=[_match("video_id", video_id)], must_not=[_match("run_id", run_id)]
                )
            ),
        )

    # -- queries -----------------------------------------------------------------------------

    def get_shots(self, model_id: str, shot_ids: Sequence[str]) -> dict[str, Shot]:
        """Active shots by id; ids that are unknown (or from a replaced run) are left out."""
        self._require(model_id)
        valid = [i for i in shot_ids if _is_uuid(i)]
        points = self.client.retrieve(self.shots_collection(model_id), valid, with_payload=True)
        return {
            str(p.id): Shot.model_validate(p.payload) for p in points if p.payload.get("active")
        }

    def shot_vectors(self, model_id: str, shot_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of active shots, by id (unknown ids are left out)."""
        self._require(model_id)
        valid = [i for i in shot_ids if _is_uuid(i)]
        points = self.client.retrieve(
            self.shots_collection(model_id), valid, with_payload=["active"], with_vectors=[VECTOR]
        )
        return {
            str(p.id): np.asarray(p.vector[VECTOR], dtype=np.float32)  # type: ignore[index]
            for p in points
            if p.payload and p.payload.get("active")
        }

    def query(
        self,
        model_id: str,
        *,
        vector: np.ndarray | None = None,
        positive_vectors: Sequence[np.ndarray] = (),
        negative_vectors: Sequence[np.ndarray] = (),
        video_ids: Sequence[str] | None = None,
        after: float | None = None,
        before: float | None = None,
        exclude_ids: Sequence[str] = (),
        limit: int = 10,
        score_threshold: float | None = None,
    ) -> list[tuple[Shot, float]]:
        """Nearest active shots to ``vector`` (cosine), or a recommendation (best-score
        strategy) from positive/negative example vectors when ``vector`` is None. (Examples are
        passed as vectors, never as point ids: Qdrant leaves example ids out of the answer.)"""
        self._require(model_id)
        if vector is not None:
            query: object = models.NearestQuery(nearest=_as_list(vector))
        else:
            query = models.RecommendQuery(
                recommend=models.RecommendInput(
                    positive=[_as_list(v) for v in positive_vectors] or None,
                    negative=[_as_list(v) for v in negative_vectors] or None,
                    strategy=models.RecommendStrategy.BEST_SCORE,
                )
            )

        def run(flt: models.Filter | None, size: int) -> list[models.ScoredPoint]:
            return self.client.query_points(
                self.shots_collection(model_id),
                query=query,
                using=VECTOR,
                query_filter=flt,
                limit=size,
                with_payload=True,
                score_threshold=score_threshold,
            ).points

        unfiltered = video_ids is None and after is None and before is None and not exclude_ids
        if unfiltered:
            # The embedded store checks a filter point by point in Python (20k shots: 57 ms
            # without, 330 ms with the 'active' filter), and inactive points only exist while
            # a video is being re-indexed: fetch a little more unfiltered and drop them here.
            size = 2 * limit + 16
            points = run(None, size)
            active = [p for p in points if p.payload.get("active")]
            if len(active) >= limit or len(points) < size:
                return [(Shot.model_validate(p.payload), float(p.score)) for p in active[:limit]]
        points = run(_shot_filter(video_ids, after, before, exclude_ids), limit)
        return [(Shot.model_validate(p.payload), float(p.score)) for p in points]

    def _discard(self, collection: str, flt: models.Filter) -> None:
        try:
            self.client.delete(collection, points_selector=models.FilterSelector(filter=flt))
        except Exception:  # the store may be what failed; the next write collects them
            log.warning("could not remove the points of a failed run; they stay inactive")

    def update_path(self, model_id: str, video_id: str, path: str) -> None:
        """Record that a video (same content) now lives at another path."""
        record = self.get_video(model_id, video_id)
        if record is None:
            raise VideoNotFoundError(f"video {video_id} is not indexed with {model_id}")
        self._put_video(record.model_copy(update={"path": path, "file_name": Path(path).name}))
        self.client.set_payload(
            self.shots_collection(model_id),
            payload={"path": path},
            points=models.Filter(must=[_match("video_id", video_id)]),
        )

    def delete_video(self, model_id: str, video_id: str) -> None:
        self._require(model_id)
        self.client.delete(
            self.shots_collection(model_id),
            points_selector=models.FilterSelector(
                filter=models.Filter(must=[_match("video_id", video_id)])
            ),
        )
        self.client.delete(
            self.videos_collection(model_id),
            points_selector=models.PointIdsList(points=[self._video_point_id(video_id)]),
        )

    def collect_garbage(self, model_id: str) -> int:
        """Remove shots that no video record names as its current run (killed runs)."""
        if not self.client.collection_exists(self.shots_collection(model_id)):
            return 0
        shots_col = self.shots_collection(model_id)
        current = {v.video_id: v.run_id for v in self.list_videos(model_id)}
        stale = [
            p.id
            for p in self._scroll(shots_col, None)
            if current.get(p.payload.get("video_id")) != p.payload.get("run_id")
        ]
        for i in range(0, len(stale), _BATCH):
            self.client.delete(
                shots_col, points_selector=models.PointIdsList(points=stale[i : i + _BATCH])
            )
        return len(stale)


def _as_list(vector: np.ndarray) -> list[float]:
    return np.asarray(vector, dtype=np.float32).astype(float).tolist()


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _shot_filter(
    video_ids: Sequence[str] | None,
    after: float | None,
    before: float | None,
    exclude_ids: Sequence[str],
) -> models.Filter:
    """Active shots of some videos, overlapping a time range, minus some ids."""
    must: list = [_match("active", True)]
    if video_ids is not None:
        must.append(
            models.FieldCondition(key="video_id", match=models.MatchAny(any=list(video_ids)))
        )
    if after is not None:  # the shot ends after the range starts
        must.append(models.FieldCondition(key="end", range=models.Range(gt=after)))
    if before is not None:  # the shot starts before the range ends
        must.append(models.FieldCondition(key="start", range=models.Range(lt=before)))
    must_not = [models.HasIdCondition(has_id=list(exclude_ids))] if exclude_ids else None
    return models.Filter(must=must, must_not=must_not)
