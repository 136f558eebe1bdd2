"""The shot store: shotseek's shots and videos over one engine (:mod:`.engine`).

Layout, per embedding model (vectors of different models are never compared):

* ``shots_<model>`` — one point per shot, dense vector ``clip`` (cosine), sparse vector
  ``caption`` once a shot has a caption, payload = everything a hit needs to be shown
  (:class:`~shotseek.pipeline.models.Shot`) plus ``run_id``, ``live`` (0/1) and ``written_at``;
* ``videos_<model>`` — one vector-less point per video (:class:`VideoRecord`): the video's
  *current run* is the ``run_id`` it names (a uuid4: no two runs, of any videos, share one).

The model id, dimension and layout version are kept in the collection's metadata and checked on
open.

**What is visible.** A shot is visible to searches, ``structure`` and ``videos`` only when it is
live and belongs to its video's current run; every read checks both. So the one write that
switches a video from its old shots to its new ones is the video record's: one engine operation,
applied whole or not at all even if the process is killed (see :meth:`ShotStore.write_run`). A
kill at any instant leaves each video with its old complete set or its new one; what a killed run
leaves behind is invisible and removed by the next run (:meth:`ShotStore.collect_garbage`).

**Writers.** An index run holds :meth:`ShotStore.writer` from its garbage collection to its last
video, so two runs in one process (a server's socket and its MCP jobs) take turns. Below that,
every run being written (from a :meth:`ShotStore.write_run`'s first point to its switch) holds a
lease in the store's ``shotseek_writers`` collection, renewed with each batch it stages, and
neither garbage collection nor another run's clean-up removes a run whose lease is alive, from
this process or any other sharing a Qdrant server: once, a collection placed between one run's
staging and its switch deleted the staged shots, and the record then named 3 shots of which
none existed. A lease not renewed for ``WRITER_LEASE_SECONDS`` is a dead writer's.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from shotseek.pipeline.config import WRITER_LEASE_SECONDS, Settings
from shotseek.pipeline.errors import StoreMismatchError, VideoNotFoundError
from shotseek.pipeline.models import (
    ID_NAMESPACE,
    IndexedModel,
    SearchIndexState,
    Shot,
    VideoRecord,
)
from shotseek.pipeline.store.engine import Engine, Point, Where
from shotseek.pipeline.store.text import document_vector, query_vector

log = logging.getLogger(__name__)

LAYOUT = 2  # 1: qdrant-client's local mode, `active` flags; 2: live flags, records switch runs
_BATCH = 256
_MAX_RETRIES = 8  # re-queries when hits of a replaced run had to be dropped
SHOT_INDEXES = {
    "video_id": "keyword",
    "run_id": "keyword",
    "live": "integer",
    "start": "float",
    "end": "float",
}


def _slug(model_id: str) -> str:
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:8]
    text = re.sub(r"[^A-Za-z0-9]+", "-", model_id).strip("-")[:40]
    return f"{text}-{digest}"


def shots_collection(model_id: str) -> str:
    return f"shots_{_slug(model_id)}"


def videos_collection(model_id: str) -> str:
    return f"videos_{_slug(model_id)}"


def video_point_id(video_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"video/{video_id}"))


LIVE = Where(equals={"live": 1})
#: The collection of write leases: one vector-less point per run being written.
WRITERS = "shotseek_writers"


def _lease_id(run_id: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, f"lease/{run_id}"))


class ShotStore:
    """Shots and videos of every model, over an engine: Qdrant Edge in ``<data dir>/edge`` by
    default, a Qdrant server with ``qdrant_url``; or the engine given (tests, migration)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        if engine is None:
            from shotseek.pipeline.store import open_engine

            engine = open_engine(settings)
        self.engine = engine
        self.location = engine.location
        self._writer = threading.RLock()
        self._runs_lock = threading.Lock()
        self._runs_in_progress: set[str] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> ShotStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Be this store's one writer in this process while the block runs (an index run:
        garbage collection, then its videos); another waits its turn."""
        with self._writer:
            yield

    def _in_progress(self) -> list[str]:
        """The runs being written: this process's, and those whose lease is alive."""
        with self._runs_lock:
            runs = set(self._runs_in_progress)
        if self.engine.exists(WRITERS):
            now = time.time()
            for point in self.engine.scroll(WRITERS, None):
                if now - float(point.payload.get("renewed", 0)) < WRITER_LEASE_SECONDS:
                    runs.add(str(point.payload.get("run_id")))
        return sorted(runs)

    def _lease(self, run_id: str) -> None:
        """Take or renew the lease of a run being written."""
        if not self.engine.exists(WRITERS):
            self.engine.create(WRITERS, dim=None, metadata={"layout": LAYOUT}, indexes={})
        point = Point(id=_lease_id(run_id), payload={"run_id": run_id, "renewed": time.time()})
        self.engine.upsert(WRITERS, [point])

    def _release(self, run_id: str) -> None:
        try:
            self.engine.delete_ids(WRITERS, [_lease_id(run_id)])
        except Exception:  # the lease expires by itself
            log.warning("could not release the write lease of run %s", run_id)

    # -- collections -------------------------------------------------------------------------

    shots_collection = staticmethod(shots_collection)
    videos_collection = staticmethod(videos_collection)

    def models(self) -> dict[str, IndexedModel]:
        """The embedding models that have shots here, with their dimension and how each was
        loaded, read in one pass over the collections."""
        found: dict[str, IndexedModel] = {}
        for name, meta in self.engine.collections().items():
            if name.startswith("shots_") and "model_id" in meta:
                self._check_layout(name, meta)
                model_id = str(meta["model_id"])
                found[model_id] = IndexedModel(
                    model_id=model_id, dim=int(meta["dim"]), spec=dict(meta.get("spec") or {})
                )
        return found

    def _check_layout(self, name: str, meta: dict) -> None:
        if meta.get("layout") != LAYOUT:
            raise StoreMismatchError(
                f"collection {name} on {self.location} was written by an older shotseek "
                f"(layout {meta.get('layout', 1)}; this one reads {LAYOUT}). Embedded stores "
                "are converted by themselves; on a server, delete the collection (curl -X "
                f"DELETE {self.location}/collections/{name}) and re-index, or point "
                "SHOTSEEK_QDRANT_URL at an empty server"
            )

    def ensure_collections(self, model_id: str, dim: int, spec: dict | None = None) -> None:
        """Create the model's collections if needed; check model id and dimension if not."""
        shots = shots_collection(model_id)
        if self.engine.exists(shots):
            meta = self.engine.describe(shots).metadata
            if meta.get("model_id") != model_id or int(meta.get("dim", -1)) != dim:
                raise StoreMismatchError(
                    f"collection {shots} holds {meta.get('model_id')} ({meta.get('dim')}-D), "
                    f"not {model_id} ({dim}-D); the store is inconsistent: re-index into a new "
                    "SHOTSEEK_DATA_DIR"
                )
            self._check_layout(shots, meta)
        else:
            meta = {"model_id": model_id, "dim": dim, "spec": spec or {}, "layout": LAYOUT}
            self.engine.create(shots, dim=dim, metadata=meta, indexes=SHOT_INDEXES)
        videos = videos_collection(model_id)
        if not self.engine.exists(videos):
            self.engine.create(
                videos,
                dim=None,
                metadata={"model_id": model_id, "dim": dim, "layout": LAYOUT},
                indexes={"video_id": "keyword"},
            )

    def _require(self, model_id: str) -> None:
        if not self.engine.exists(shots_collection(model_id)):
            raise VideoNotFoundError(f"nothing is indexed with model {model_id} in {self.location}")

    # -- videos ------------------------------------------------------------------------------

    def _put_video(self, record: VideoRecord) -> None:
        point = Point(id=video_point_id(record.video_id), payload=record.model_dump(mode="json"))
        self.engine.upsert(videos_collection(record.model_id), [point])

    def get_video(self, model_id: str, video_id: str) -> VideoRecord | None:
        if not self.engine.exists(videos_collection(model_id)):
            return None
        points = self.engine.retrieve(videos_collection(model_id), [video_point_id(video_id)])
        return VideoRecord.model_validate(points[0].payload) if points else None

    def list_videos(self, model_id: str) -> list[VideoRecord]:
        self._require(model_id)
        records = [
            VideoRecord.model_validate(p.payload)
            for p in self.engine.scroll(videos_collection(model_id), None)
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

    def _current_runs(self, model_id: str, video_ids: Iterable[str]) -> dict[str, str]:
        """Each video's current run, as its record names it (videos without one are left out)."""
        wanted = sorted(set(video_ids))
        points = self.engine.retrieve(
            videos_collection(model_id), [video_point_id(v) for v in wanted]
        )
        return {str(p.payload["video_id"]): str(p.payload["run_id"]) for p in points}

    def _visible(self, model_id: str, points: Sequence[Point]) -> list[Point]:
        """The points that are live and of their video's current run."""
        runs = self._current_runs(model_id, (str(p.payload.get("video_id")) for p in points))
        return [
            p
            for p in points
            if p.payload.get("live") == 1
            and runs.get(str(p.payload.get("video_id"))) == p.payload.get("run_id")
        ]

    # -- shots -------------------------------------------------------------------------------

    def shots_of(self, model_id: str, video_id: str) -> list[Shot]:
        """The video's visible shots, in time order."""
        self._require(model_id)
        record = self.get_video(model_id, video_id)
        if record is None:
            return []
        where = LIVE.also(equals={"video_id": video_id, "run_id": record.run_id})
        shots = [
            Shot.model_validate(p.payload)
            for p in self.engine.scroll(shots_collection(model_id), where)
        ]
        return sorted(shots, key=lambda s: s.index)

    def count_shots(
        self, model_id: str, video_id: str | None = None, active_only: bool = True
    ) -> int:
        """Visible shots (of one video, or all); ``active_only=False``: every shot point,
        including what a replaced or killed run left."""
        self._require(model_id)
        shots = shots_collection(model_id)
        scope = Where(equals={"video_id": video_id}) if video_id else Where()
        if not active_only:
            return self.engine.count(shots, scope)
        per_run = self.engine.facet(shots, "run_id", scope.also(equals={"live": 1}))
        records = (
            [r for r in [self.get_video(model_id, video_id)] if r]
            if video_id
            else self.list_videos(model_id)
        )
        return sum(per_run.get(r.run_id, 0) for r in records)

    def write_run(
        self,
        record: VideoRecord,
        shots: Sequence[Shot],
        vectors: np.ndarray,
        spec: dict | None = None,
    ) -> None:
        """Store a video's new index run, replacing its previous one only once it is complete.

        The sequence, each step one engine operation (applied whole or not at all):

        1. the new shots, not live, in batches (invisible: a kill leaves only garbage);
        2. the new shots made live (still invisible: the record names the old run);
        3. the video record, naming the new run — the switch;
        4. every other run of the video deleted (until then invisible: not the current run).
        """
        if len(shots) != len(vectors):
            raise ValueError(f"{len(shots)} shots but {len(vectors)} vectors")
        model_id, video_id, run_id = record.model_id, record.video_id, record.run_id
        self.ensure_collections(model_id, int(vectors.shape[1]), spec)
        col = shots_collection(model_id)
        this_run = Where(equals={"video_id": video_id, "run_id": run_id})
        written_at = time.time()
        carried = self._captions_kept(record, shots)
        with self._runs_lock:
            self._runs_in_progress.add(run_id)
        try:
            self._lease(run_id)
            self._write_run(record, shots, vectors, col, this_run, written_at, carried)
        finally:
            with self._runs_lock:
                self._runs_in_progress.discard(run_id)
            self._release(run_id)

    def _write_run(
        self,
        record: VideoRecord,
        shots: Sequence[Shot],
        vectors: np.ndarray,
        col: str,
        this_run: Where,
        written_at: float,
        carried: dict[str, dict],
    ) -> None:
        video_id, run_id = record.video_id, record.run_id
        try:
            for i in range(0, len(shots), _BATCH):
                if i:
                    self._lease(run_id)  # renewed as the run goes
                self.engine.upsert(
                    col,
                    [
                        Point(
                            id=shot.shot_id,
                            payload={
                                **shot.model_dump(mode="json"),
                                "run_id": run_id,
                                "live": 0,
                                "written_at": written_at,
                            },
                            vector=vec,
                        )
                        for shot, vec in zip(shots[i : i + _BATCH], vectors[i : i + _BATCH])
                    ],
                )
            for shot_id, fields in carried.items():  # staged with the run, visible with it
                self.engine.set_caption(col, shot_id, document_vector(fields["caption"]), fields)
            self.engine.set_payload(col, {"live": 1}, this_run)
            self._put_video(record)
        except BaseException:
            self._discard_unless_current(record, this_run)
            raise
        keep = [run_id, *self._in_progress()]  # another writer's staged run is not ours to drop
        self.engine.delete(col, Where(equals={"video_id": video_id}, none_of={"run_id": keep}))

    def _captions_kept(self, record: VideoRecord, shots: Sequence[Shot]) -> dict[str, dict]:
        """The captions of the video's current shots whose span the new run keeps, by the new
        shots' ids: a caption describes the frames of a span, and re-indexing (another fps,
        ``--force``) must not throw away the VLM's work where the frames are the same."""
        if not self.engine.exists(shots_collection(record.model_id)):
            return {}
        old = self.shots_of(record.model_id, record.video_id)
        found = self.captions(record.model_id, [s.shot_id for s in old])
        by_span = {_span(s): found[s.shot_id] for s in old if s.shot_id in found}
        return {s.shot_id: by_span[_span(s)] for s in shots if _span(s) in by_span}

    def _discard_unless_current(self, record: VideoRecord, run: Where) -> None:
        """After a failed write: remove the run's points, unless the record switch went through
        (a server can apply a request whose answer was lost)."""
        try:
            current = self.get_video(record.model_id, record.video_id)
            if current is None or current.run_id != record.run_id:
                self.engine.delete(shots_collection(record.model_id), run)
        except Exception:  # the store may be what failed; the next run collects them
            log.warning("could not remove the points of a failed run; they stay invisible")

    def collect_garbage(self, model_id: str) -> int:
        """Remove shot points that are not of their video's current run (what a killed or
        failed run left), except the runs being written (their lease is alive)."""
        col = shots_collection(model_id)
        if not self.engine.exists(col):
            return 0
        keep = {v.run_id for v in self.list_videos(model_id)} | set(self._in_progress())
        removed = 0
        for run_id, n in self.engine.facet(col, "run_id").items():
            if run_id not in keep:
                self.engine.delete(col, Where(equals={"run_id": run_id}))
                removed += n
        return removed

    # -- queries -----------------------------------------------------------------------------

    def get_shots(self, model_id: str, shot_ids: Sequence[str]) -> dict[str, Shot]:
        """Visible shots by id; ids that are unknown (or from a replaced run) are left out."""
        self._require(model_id)
        valid = [i for i in shot_ids if _is_uuid(i)]
        points = self._visible(model_id, self.engine.retrieve(shots_collection(model_id), valid))
        return {p.id: Shot.model_validate(p.payload) for p in points}

    def shot_vectors(self, model_id: str, shot_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The stored vectors of visible shots, by id (unknown ids are left out)."""
        self._require(model_id)
        valid = [i for i in shot_ids if _is_uuid(i)]
        points = self.engine.retrieve(shots_collection(model_id), valid, vectors=True)
        return {p.id: p.vector for p in self._visible(model_id, points) if p.vector is not None}

    def query(
        self,
        model_id: str,
        *,
        vector: np.ndarray | None = None,
        positive_vectors: Sequence[np.ndarray] = (),
        negative_vectors: Sequence[np.ndarray] = (),
        text: str | None = None,
        video_ids: Sequence[str] | None = None,
        after: float | None = None,
        before: float | None = None,
        exclude_ids: Sequence[str] = (),
        limit: int = 10,
        score_threshold: float | None = None,
        exact: bool = False,
    ) -> list[tuple[Shot, float]]:
        """Nearest visible shots to ``vector`` (cosine); a recommendation (best-score strategy)
        from positive/negative example vectors when ``vector`` is None; or, with ``text``, BM25
        over the shots' captions. (Examples are passed as vectors, never as point ids: Qdrant
        leaves example ids out of the answer.)"""
        self._require(model_id)
        where = _shot_filter(video_ids, after, before, exclude_ids)
        sparse = query_vector(text) if text is not None else None
        for _ in range(_MAX_RETRIES):
            found = self.engine.query(
                shots_collection(model_id),
                nearest=vector,
                positives=positive_vectors,
                negatives=negative_vectors,
                text=sparse,
                where=where,
                limit=limit,
                score_threshold=score_threshold,
                exact=exact,
            )
            visible = {p.id for p in self._visible(model_id, [p for p, _ in found])}
            if len(visible) == len(found):
                break
            # Hits of a run being replaced (or left by a killed one): ask again without it.
            hidden = {str(p.payload.get("run_id")) for p, _ in found if p.id not in visible}
            hidden |= set(where.none_of.get("run_id", ()))
            where = where.also(none_of={"run_id": sorted(hidden)})
        return [(Shot.model_validate(p.payload), s) for p, s in found if p.id in visible]

    # -- captions ----------------------------------------------------------------------------

    def captions(self, model_id: str, shot_ids: Sequence[str]) -> dict[str, dict]:
        """The caption fields stored with visible shots (shots without a caption are left
        out): ``caption`` and whatever :meth:`set_caption` was given with it."""
        self._require(model_id)
        valid = [i for i in shot_ids if _is_uuid(i)]
        points = self._visible(model_id, self.engine.retrieve(shots_collection(model_id), valid))
        return {
            p.id: {k: v for k, v in p.payload.items() if k.startswith("caption")}
            for p in points
            if p.payload.get("caption")
        }

    def set_caption(self, model_id: str, shot_id: str, caption: str, **fields: object) -> None:
        """Give a shot caption text (searchable with ``query(text=...)``) and any fields that
        go with it (which model wrote it, with which prompt)."""
        self._require(model_id)
        self.engine.set_caption(
            shots_collection(model_id),
            shot_id,
            document_vector(caption),
            {"caption": caption, **fields},
        )

    # -- maintenance -------------------------------------------------------------------------

    def update_path(self, model_id: str, video_id: str, path: str) -> None:
        """Record that a video (same content) now lives at another path."""
        record = self.get_video(model_id, video_id)
        if record is None:
            raise VideoNotFoundError(f"video {video_id} is not indexed with {model_id}")
        self.engine.set_payload(
            shots_collection(model_id), {"path": path}, Where(equals={"video_id": video_id})
        )
        self._put_video(record.model_copy(update={"path": path, "file_name": Path(path).name}))

    def delete_video(self, model_id: str, video_id: str) -> None:
        """Forget a video: its record first (its shots are invisible from then on), then them."""
        self._require(model_id)
        self.engine.delete_ids(videos_collection(model_id), [video_point_id(video_id)])
        self.engine.delete(shots_collection(model_id), Where(equals={"video_id": video_id}))

    def build_index(self, model_id: str, *, background: bool = False) -> bool:
        """Build the search index (HNSW) over what was written since the last build;
        ``background``: while searches go on (a server). Searches are exact until then."""
        col = shots_collection(model_id)
        return self.engine.exists(col) and self.engine.build_index(col, background=background)

    def index_state(self, model_id: str) -> SearchIndexState:
        """How much of the model's shots the search index covers (the rest: exact search)."""
        self._require(model_id)
        info = self.engine.describe(shots_collection(model_id))
        return SearchIndexState(
            model_id=model_id,
            shots=info.points,
            indexed=info.indexed,
            building=info.building,
            build_due=info.build_due,
        )


def _span(shot: Shot) -> tuple[float, float]:
    return round(shot.start, 6), round(shot.end, 6)


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
) -> Where:
    """Live shots of some videos, overlapping a time range, minus some ids."""
    return LIVE.also(
        any_of={"video_id": list(video_ids)} if video_ids is not None else {},
        greater={"end": after} if after is not None else {},  # ends after the range starts
        less={"start": before} if before is not None else {},  # starts before it ends
        not_ids=tuple(exclude_ids),
    )
