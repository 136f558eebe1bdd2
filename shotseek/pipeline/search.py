"""Search shots by text, image or both, and refine a search with relevance feedback.

**Combined queries.** Text and image are embedded in the same CLIP space and combined as
``normalise((1 - w) · text + w · image)`` with ``w = image_weight``: one nearest-neighbour search
that ranks shots by how well they match both at once. (``bench/bench_search.py`` compares it with
reciprocal-rank fusion of two separate searches, which can only reorder what each query finds on
its own.)

**No good match.** Scores have no fixed scale: a true text match scores about 0.3 with real
CLIP ViT-L-14 and 0.96 with the tiny test model, and a near miss (the right colour, the wrong
shape) can score almost as high as a hit. So the floor is learned per collection and per query
kind (text, image, text+image) from the top scores of the searches run against it: the typical
top score is the median of the upper half of the last ``CALIBRATION_WINDOW`` top-1 scores, and a
search whose best score falls more than ``NO_MATCH_MARGIN`` robust deviations (at least 2 % of
the typical top) below it reports ``no_good_match``. Until ``CALIBRATION_MIN`` searches of that
kind exist, ``no_good_match`` is null and the result says the collection is still calibrating.

**Refinement** uses Qdrant's recommendation query with the best-score strategy: the original
query vector and the shots marked positive (plus any extra text) are positive examples, shots
marked negative (plus negative text) are negative ones. A candidate is scored by its most similar
positive unless a negative is more similar. Unlike a Rocchio update (one averaged vector), this
keeps several distinct looks apart, and a negative pushes away only its own look-alikes. Judged
shots are not returned again unless asked, and feedback accumulates along a chain of refinements.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from shotseek.pipeline.catalog import reader_model
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import ClipEncoder, get_encoder
from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.models import Shot
from shotseek.pipeline.store import ShotStore, StoreMismatchError

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 50 * 2**20
MAX_IMAGE_PIXELS = 100_000_000
MAX_SEARCHES_KEPT = 500
CALIBRATION_WINDOW = 50
CALIBRATION_MIN = 5
NO_MATCH_MARGIN = 3.0


class QueryError(ShotseekError):
    """The query cannot be run as given (empty, bad image, bad range)."""


class SearchNotFoundError(ShotseekError):
    """A search id that is not (or no longer) kept."""


class UnknownShotError(ShotseekError):
    """Shot ids that are not in the store (or belong to a replaced index run)."""


class SearchQuery(BaseModel):
    """What was asked."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    image: str | None = Field(None, description="Image file path, or 'bytes:<sha>' for data.")
    image_weight: float = Field(0.5, ge=0.0, le=1.0)
    videos: list[str] | None = Field(None, description="Video ids the search is limited to.")
    after: float | None = Field(None, ge=0, description="Only shots ending after this second.")
    before: float | None = Field(None, ge=0, description="Only shots starting before this second.")
    min_score: float | None = None
    limit: int = Field(10, ge=1, le=500)
    per_video: int | None = Field(None, ge=1, description="At most this many hits per video.")


class Feedback(BaseModel):
    """Relevance feedback accumulated along a chain of refinements."""

    model_config = ConfigDict(extra="forbid")

    positive: list[str] = Field(default_factory=list)
    negative: list[str] = Field(default_factory=list)
    text: list[str] = Field(default_factory=list)
    negative_text: list[str] = Field(default_factory=list)

    def plus(self, other: Feedback) -> Feedback:
        def join(a: list[str], b: list[str]) -> list[str]:
            return list(dict.fromkeys([*a, *b]))

        return Feedback(
            positive=join(self.positive, other.positive),
            negative=join(self.negative, other.negative),
            text=join(self.text, other.text),
            negative_text=join(self.negative_text, other.negative_text),
        )


class SearchHit(BaseModel):
    """One shot found, with everything needed to show it."""

    rank: int
    score: float
    shot: Shot
    caption: str | None = None
    explanation: str | None = None


class SearchResult(BaseModel):
    """The answer to a search or a refinement."""

    search_id: str
    parent_id: str | None = None
    model_id: str
    query: SearchQuery
    feedback: Feedback = Field(default_factory=Feedback)
    hits: list[SearchHit]
    no_good_match: bool | None = Field(
        description="True when even the best hit scores well below what searches of this kind "
        "typically reach in this collection; null while that is still being learned."
    )
    typical_top_score: float | None = Field(
        None, description="The collection's typical best score for this kind of query."
    )
    note: str | None = None
    created_at: datetime


class _SearchRecord(BaseModel):
    """What is kept of a search so that refine can build on it, across processes."""

    result: SearchResult
    vector: list[float]


# -- the search history ------------------------------------------------------------------------


def _history_dir(settings: Settings) -> Path:
    return settings.data_dir / "searches"


def _write_atomically(target: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(target)


def _save(settings: Settings, record: _SearchRecord) -> None:
    folder = _history_dir(settings)
    _write_atomically(folder / f"{record.result.search_id}.json", record.model_dump_json())
    kept = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)
    for old in kept[:-MAX_SEARCHES_KEPT]:
        old.unlink(missing_ok=True)


def _load(settings: Settings, search_id: str) -> _SearchRecord:
    search_id = search_id.strip()
    path = _history_dir(settings) / f"{search_id}.json"
    if not search_id or "/" in search_id or not path.is_file():
        raise SearchNotFoundError(
            f"no search with id {search_id!r}: search ids are printed with each search; the last "
            f"{MAX_SEARCHES_KEPT} are kept in {_history_dir(settings)}"
        )
    return _SearchRecord.model_validate_json(path.read_text())


# -- query vectors -----------------------------------------------------------------------------


def load_image(image: str | Path | bytes) -> Image.Image:
    """Open a query image from a path or bytes, checking size and format first."""
    if isinstance(image, (bytes, bytearray)):
        data, name = bytes(image), "the image data"
    else:
        path = Path(image).expanduser()
        name = str(path)
        if not path.is_file():
            raise QueryError(f"image {name}: no such file")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise QueryError(
                f"image {name} is larger than {MAX_IMAGE_BYTES // 2**20} MB; use a smaller still"
            )
        data = path.read_bytes()
    if not data:
        raise QueryError(f"{name} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise QueryError(f"{name} is larger than {MAX_IMAGE_BYTES // 2**20} MB")
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_IMAGE_PIXELS:
            raise QueryError(
                f"{name} has {img.width}x{img.height} pixels; the limit is "
                f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels"
            )
        img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise QueryError(
            f"{name} is not an image shotseek can read (JPEG, PNG, WebP, BMP, GIF, TIFF): {exc}"
        ) from exc
    return img.convert("RGB")


def reader_encoder(store: ShotStore, settings: Settings, model_id: str) -> ClipEncoder:
    """The encoder of the model that built the collection: never another one."""
    spec = store.model_spec(model_id)
    recorded = {k: spec[k] for k in ("model", "pretrained", "checkpoint_tag") if k in spec}
    encoder = get_encoder(settings.model_copy(update=recorded))
    if encoder.model_id != model_id:
        raise StoreMismatchError(
            f"the shots were embedded with {model_id} but the model loaded for the query is "
            f"{encoder.model_id}; vectors of different models cannot be compared. Index again "
            "with the current model, or restore the weights that built the store"
        )
    return encoder


def query_vector(
    encoder: ClipEncoder, text: str | None, image: Image.Image | None, image_weight: float
) -> np.ndarray:
    """Normalised ``(1 - w) · text + w · image`` (or the one that is given)."""
    parts = []
    if text:
        parts.append((1.0 - image_weight if image is not None else 1.0, encoder.encode_text(text)))
    if image is not None:
        parts.append((image_weight if text else 1.0, encoder.encode_images([image])[0]))
    vec = sum(w * v for w, v in parts)
    norm = float(np.linalg.norm(vec))
    if norm < 1e-8:
        raise QueryError(
            "the text and image cancel out; give a non-zero image weight or only one of them"
        )
    return (vec / norm).astype(np.float32)


def query_kind(query: SearchQuery) -> str:
    if query.text and query.image:
        return "text+image"
    return "text" if query.text else "image"


def _calibration_path(settings: Settings, model_id: str) -> Path:
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:12]
    return settings.data_dir / "calibration" / f"{digest}.json"


def judge_top_score(
    settings: Settings, model_id: str, kind: str, best: float
) -> tuple[bool | None, float | None, str | None]:
    """Compare a search's best score with the collection's typical top score for its kind,
    then add it to what is learned. Returns (no_good_match, typical_top, note)."""
    path = _calibration_path(settings, model_id)
    history: dict[str, list[float]] = {}
    if path.is_file():
        try:
            history = {k: [float(x) for x in v] for k, v in json.loads(path.read_text()).items()}
        except (ValueError, AttributeError):
            log.warning("ignoring unreadable calibration file %s", path)
    tops = history.get(kind, [])[-CALIBRATION_WINDOW:]
    verdict: bool | None = None
    typical: float | None = None
    note: str | None = None
    if len(tops) >= CALIBRATION_MIN:
        upper = np.sort(np.asarray(tops))[len(tops) // 2 :]
        typical = float(np.median(upper))
        spread = max(1.4826 * float(np.median(np.abs(upper - typical))), 0.02 * abs(typical))
        verdict = best < typical - NO_MATCH_MARGIN * spread
        if verdict:
            note = (
                f"no good match: the best score {best:.3f} is well below the {typical:.3f} "
                f"that {kind} searches typically reach here; what was asked for is "
                "probably not in the footage searched"
            )
    else:
        note = (
            f"no_good_match is not judged yet: the collection is calibrating "
            f"({len(tops)} of {CALIBRATION_MIN} {kind} searches)"
        )
    history[kind] = [*tops, round(best, 6)][-CALIBRATION_WINDOW:]
    _write_atomically(path, json.dumps(history))
    return verdict, typical, note


# -- search and refine -------------------------------------------------------------------------


def _finish(
    settings: Settings,
    store: ShotStore,
    model_id: str,
    query: SearchQuery,
    found: list[tuple[Shot, float]],
    *,
    vector: np.ndarray,
    judged: bool,
    feedback: Feedback | None = None,
    parent_id: str | None = None,
) -> SearchResult:
    hits: list[SearchHit] = []
    per_video: dict[str, int] = {}
    for shot, score in found:
        if query.min_score is not None and score < query.min_score:
            continue
        if query.per_video is not None:
            if per_video.get(shot.video_id, 0) >= query.per_video:
                continue
            per_video[shot.video_id] = per_video.get(shot.video_id, 0) + 1
        hits.append(SearchHit(rank=len(hits) + 1, score=round(score, 6), shot=shot))
        if len(hits) == query.limit:
            break
    verdict, typical, note = None, None, None
    if judged and found:
        verdict, typical, note = judge_top_score(settings, model_id, query_kind(query), found[0][1])
    elif judged:
        verdict, note = True, "nothing matches the filters"
    else:
        note = "refined results are ranked by feedback; no_good_match is judged on searches"
    result = SearchResult(
        search_id=uuid.uuid4().hex[:12],
        parent_id=parent_id,
        model_id=model_id,
        query=query,
        feedback=feedback or Feedback(),
        hits=hits,
        no_good_match=verdict,
        typical_top_score=None if typical is None else round(typical, 6),
        note=note,
        created_at=datetime.now(UTC),
    )
    _save(settings, _SearchRecord(result=result, vector=vector.astype(float).tolist()))
    return result


def _fetch_size(query: SearchQuery) -> int:
    extra = query.min_score is not None or query.per_video is not None
    return min(2000, query.limit * (20 if extra else 1))


def search(
    settings: Settings,
    store: ShotStore,
    query: SearchQuery,
    *,
    image_bytes: bytes | None = None,
    encoder: ClipEncoder | None = None,
) -> SearchResult:
    """Search shots by text, image (a path in ``query.image`` or ``image_bytes``), or both."""
    text = (query.text or "").strip() or None
    if text is None and query.image is None and image_bytes is None:
        raise QueryError("empty query: give text, an image, or both")
    if query.after is not None and query.before is not None and query.after >= query.before:
        raise QueryError(
            f"the time range is empty: after {query.after}s is not before {query.before}s"
        )
    model_id = reader_model(store, settings)
    encoder = encoder or reader_encoder(store, settings, model_id)
    image = None
    if image_bytes is not None:
        image = load_image(image_bytes)
        query = query.model_copy(
            update={"image": "bytes:" + hashlib.sha256(image_bytes).hexdigest()[:16]}
        )
    elif query.image is not None:
        image = load_image(query.image)
    video_ids = None
    if query.videos:
        video_ids = list(
            dict.fromkeys(store.find_video(model_id, ref).video_id for ref in query.videos)
        )
    query = query.model_copy(update={"text": text, "videos": video_ids})
    vector = query_vector(encoder, text, image, query.image_weight)
    scope = {"video_ids": video_ids, "after": query.after, "before": query.before}
    found = store.query(model_id, vector=vector, limit=_fetch_size(query), **scope)
    return _finish(settings, store, model_id, query, found, vector=vector, judged=True)


def refine(
    settings: Settings,
    store: ShotStore,
    search_id: str,
    *,
    positive: list[str] | None = None,
    negative: list[str] | None = None,
    text: list[str] | None = None,
    negative_text: list[str] | None = None,
    limit: int | None = None,
    include_judged: bool = False,
    encoder: ClipEncoder | None = None,
) -> SearchResult:
    """A new search built on an earlier one plus feedback: "more like these, not like those"."""
    record = _load(settings, search_id)
    parent = record.result
    new = Feedback(
        positive=[s.strip() for s in positive or []],
        negative=[s.strip() for s in negative or []],
        text=[t.strip() for t in text or [] if t.strip()],
        negative_text=[t.strip() for t in negative_text or [] if t.strip()],
    )
    if not (new.positive or new.negative or new.text or new.negative_text):
        raise QueryError("refine needs feedback: --positive/--negative shot ids, or --text/--not")
    both = set(new.positive) & set(new.negative)
    if both:
        raise QueryError(f"shot {sorted(both)[0]} is marked both positive and negative")
    model_id = parent.model_id
    if model_id not in store.models():
        raise SearchNotFoundError(
            f"search {search_id} used model {model_id}, which is no longer in the store"
        )
    feedback = parent.feedback.plus(new)
    judged = [*feedback.positive, *feedback.negative]
    known = store.get_shots(model_id, judged)
    unknown = [s for s in judged if s not in known]
    if unknown:
        raise UnknownShotError(
            f"unknown shot id(s) {', '.join(unknown)}: use shot ids from the hits of a search "
            "(a re-indexed video gets new shot ids)"
        )
    encoder = encoder or reader_encoder(store, settings, model_id)
    base = np.asarray(record.vector, dtype=np.float32)
    query = parent.query.model_copy(update={"limit": limit or parent.query.limit})
    found = store.query(
        model_id,
        positive_ids=feedback.positive,
        negative_ids=feedback.negative,
        positive_vectors=[base, *(encoder.encode_text(t) for t in feedback.text)],
        negative_vectors=[encoder.encode_text(t) for t in feedback.negative_text],
        video_ids=query.videos,
        after=query.after,
        before=query.before,
        exclude_ids=[] if include_judged else judged,
        limit=_fetch_size(query),
    )
    return _finish(
        settings,
        store,
        model_id,
        query,
        found,
        vector=base,
        judged=False,
        feedback=feedback,
        parent_id=parent.search_id,
    )


def load_search(settings: Settings, search_id: str) -> SearchResult:
    """A kept search, as it was answered."""
    return _load(settings, search_id).result
