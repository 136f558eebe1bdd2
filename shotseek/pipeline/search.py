"""Search shots by text, image or both, and refine a search with relevance feedback.

**Combined queries.** Text and image are embedded in the same CLIP space and combined as
``normalise((1 - w) · text + w · image)`` with ``w = image_weight``: one nearest-neighbour search
that ranks shots by how well they match both at once. (``bench/bench_search.py`` compares it with
reciprocal-rank fusion of two separate searches, which can only reorder what each query finds on
its own.)

**No good match** is judged against what searches of the same kind typically score in this
collection (:mod:`shotseek.pipeline.history`).

**Refinement** uses Qdrant's recommendation query with the best-score strategy: the original
query vector and the shots marked positive (plus any extra text) are positive examples, shots
marked negative (plus negative text) are negative ones. A candidate is scored by its most similar
positive unless a negative is more similar. Unlike a Rocchio update (one averaged vector), this
keeps several distinct looks apart, and a negative pushes away only its own look-alikes. Judged
shots are not returned again unless asked, and feedback accumulates along a chain of refinements.

**One path to an answer.** Search and refine both end in :func:`answer`: the ranked shots are
filtered (``min_score``, ``per_video``, ``limit``) into hits, judged (``no_good_match``), then
handed to the enrichment step — a list of :data:`Enricher` functions that may add captions,
explanations or a new order — and only then recorded and returned.
"""

from __future__ import annotations

import bisect
import hashlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from pydantic import ValidationError

from shotseek.pipeline import history
from shotseek.pipeline.catalog import reader_encoder, reader_model
from shotseek.pipeline.config import DEFAULT_RERANK, SEQUENCE_CANDIDATES, Settings
from shotseek.pipeline.errors import QueryError, UnknownShotError
from shotseek.pipeline.media import load_image
from shotseek.pipeline.models import (
    Feedback,
    SearchHit,
    SearchQuery,
    SearchResult,
    SequenceStep,
    Shot,
    validation_message,
)
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.text_graph import TextGraph

if TYPE_CHECKING:
    from shotseek.pipeline.encoder import ClipEncoder

log = logging.getLogger(__name__)

#: Told each step of a long search: (steps done, steps in all, what it does now).
Progress = Callable[[int, int, str], None]

#: The enrichment step: takes the judged result and returns it with hits captioned, explained
#: or reordered (VLM enrichment plugs in here). It runs after the hits are found and before the
#: result is recorded, so a refinement builds on what the user saw.
Enricher = Callable[[SearchResult], SearchResult]


def query_vector(
    encoder: ClipEncoder | TextGraph,
    text: str | None,
    image: Image.Image | None,
    image_weight: float,
) -> np.ndarray:
    """Normalised ``(1 - w) · text + w · image`` (or the one that is given)."""
    parts = []
    if text:
        parts.append((1.0 - image_weight if image is not None else 1.0, encoder.encode_text(text)))
    if image is not None:
        assert not isinstance(encoder, TextGraph)  # image queries load the model
        parts.append((image_weight if text else 1.0, encoder.encode_query_image(image)))
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


def answer(
    settings: Settings,
    model_id: str,
    query: SearchQuery,
    found: list[tuple[Shot, float]],
    *,
    vector: np.ndarray,
    judged: bool,
    feedback: Feedback | None = None,
    parent_id: str | None = None,
    enrich: Sequence[Enricher] = (),
    notes: Sequence[str | None] = (),
    record: bool = True,
    runs: Sequence[list[SequenceStep]] | None = None,
) -> SearchResult:
    """Ranked shots → hits → judged → enriched → recorded: the one way a result is made.
    ``runs`` (a sequence query): each found shot's run of steps, in the same order.
    ``notes`` are told to the user with the verdict (a query the model reads only in part).
    ``record=False`` (an evaluation's queries): neither kept for refine nor counted in the
    calibration."""
    hits: list[SearchHit] = []
    per_video: dict[str, int] = {}
    for i, (shot, score) in enumerate(found):
        if query.min_score is not None and score < query.min_score:
            continue
        if query.per_video is not None:
            if per_video.get(shot.video_id, 0) >= query.per_video:
                continue
            per_video[shot.video_id] = per_video.get(shot.video_id, 0) + 1
        steps = runs[i] if runs is not None else None
        hits.append(SearchHit(rank=len(hits) + 1, score=round(score, 6), shot=shot, steps=steps))
        if len(hits) == query.limit:
            break
    verdict, typical, note = None, None, None
    limited = query.videos is not None or query.after is not None or query.before is not None
    if not record:
        pass
    elif judged and found and limited:  # the calibration describes the whole archive's
        note = (
            "no_good_match is judged on searches of the whole archive; this one is limited to "
            "some videos or times"
        )
    elif judged and found:
        verdict, typical, note = history.judge_top_score(
            settings, model_id, query_kind(query), found[0][1]
        )
    elif judged:
        verdict, note = True, "nothing matches the filters"
    elif runs is not None:
        note = (
            "a sequence: each hit is a run of shots, scored by the mean of its steps' CLIP "
            "scores; no_good_match is judged on single searches"
        )
    elif parent_id is not None:
        note = "refined results are ranked by feedback; no_good_match is judged on searches"
    else:
        note = "no_good_match is judged on CLIP searches only"
    note = "; ".join(n for n in (*notes, note) if n) or None
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
    for step in enrich:
        result = step(result)
    if record:
        history.save_search(
            settings, history.SearchRecord(result=result, vector=vector.astype(float).tolist())
        )
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
    encoder: ClipEncoder | TextGraph | None = None,
    enrich: Sequence[Enricher] = (),
    model_id: str | None = None,
    record: bool = True,
    progress: Progress | None = None,
) -> SearchResult:
    """Search shots by text, image (a path in ``query.image`` or ``image_bytes``), or both;
    in the shots of ``model_id`` when given (else the readers' model, see catalog).
    ``progress(done, total, step)`` hears each VLM step (it may raise to stop the search)."""
    text = (query.text or "").strip() or None
    if text is None and query.image is None and image_bytes is None:
        raise QueryError("empty query: give text, an image, or both")
    if query.after is not None and query.before is not None and query.after >= query.before:
        raise QueryError(
            f"the time range is empty: after {query.after}s is not before {query.before}s"
        )
    model = reader_model(store, settings, model_id)
    model_id = model.model_id
    text_only = query.image is None and image_bytes is None
    encoder = encoder or reader_encoder(settings, model, text_only=text_only)
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
    notes = [encoder.text_overflow(text)] if text else []
    if query.then:
        return _sequence(settings, store, model_id, encoder, query, vector, scope, notes, record)
    if query.mode == "clip":
        found = store.query(model_id, vector=vector, limit=_fetch_size(query), **scope)
    else:
        if text is None:
            raise QueryError(f"{query.mode} search reads the query's words: give text")
        found = store.query(
            model_id,
            vector=vector if query.mode == "hybrid" else None,
            text=text,
            limit=_fetch_size(query),
            **scope,
        )
        notes.append(
            f"{query.mode} mode: scores are "
            + ("BM25 over the VLM's captions" if query.mode == "caption" else "rank fusion (RRF)")
            + "; only captioned shots can be found by their words (shotseek caption adds more)"
        )
    return answer(
        settings,
        model_id,
        query,
        found,
        vector=vector,
        judged=query.mode == "clip",
        enrich=[*_vlm_steps(settings, store, query, progress), *enrich],
        notes=notes,
        record=record,
    )


def _sequence(
    settings: Settings,
    store: ShotStore,
    model_id: str,
    encoder: ClipEncoder | TextGraph,
    query: SearchQuery,
    vector: np.ndarray,
    scope: dict,
    notes: list[str | None],
    record: bool,
) -> SearchResult:
    """A sequence query: the first step (text, image or both) then each ``then`` text, joined
    into runs of shots (:func:`join_steps`) from each step's candidates in the index."""
    if query.mode != "clip" or query.rerank or query.explain:
        raise QueryError(
            "a sequence (then) is searched by CLIP alone: leave out --mode, --rerank and "
            "--explain, and judge its shots afterwards"
        )
    texts = [t.strip() for t in query.then or []]
    if not all(texts):
        raise QueryError("a step of the sequence (then) is empty: say what follows")
    query = query.model_copy(update={"then": texts})
    vectors = [vector, *(query_vector(encoder, t, None, 0.0) for t in texts)]
    notes += [encoder.text_overflow(t) for t in texts]
    labels = [query.text or "the image", *texts]
    runs = sequence_runs(store, model_id, vectors, query.within, scope)
    if query.per_video is None and query.min_score is None:
        runs = runs[: query.limit]
    steps = [
        [
            SequenceStep(text=label, score=round(score, 6), shot=shot)
            for label, (shot, score) in zip(labels, run)
        ]
        for run, _ in runs
    ]
    return answer(
        settings,
        model_id,
        query,
        [(run[0][0], mean) for run, mean in runs],
        vector=vector,
        judged=False,
        notes=notes,
        record=record,
        runs=steps,
    )


def sequence_runs(
    store: ShotStore, model_id: str, vectors: Sequence[np.ndarray], within: float, scope: dict
) -> list[tuple[list[tuple[Shot, float]], float]]:
    """Each step's :data:`SEQUENCE_CANDIDATES` nearest shots from the index (within the
    query's videos and times), joined into runs (:func:`join_steps`)."""
    found = [store.query(model_id, vector=v, limit=SEQUENCE_CANDIDATES, **scope) for v in vectors]
    return join_steps(found, within)


def join_steps(
    found: Sequence[Sequence[tuple[Shot, float]]], within: float
) -> list[tuple[list[tuple[Shot, float]], float]]:
    """Runs of shots, one per step, in one video and in order, each step's shot starting at
    most ``within`` seconds after the previous one's ends; best first by the mean of the
    steps' scores, one run (its best) per first shot.

    The mean, not the weakest step's score: with cosine scores on one scale, the minimum ties
    every run that shares its weakest step and throws away how well the others match, and a
    product is meaningless for negative cosines. Runs are found from each step's candidates
    in the index, joined per video (each step's shots sorted by start, the next step's window
    found by bisection), never by a scan of the store."""
    steps = len(found)
    by_video: dict[str, list[list[tuple[Shot, float]]]] = {}
    for i, candidates in enumerate(found):
        for shot, score in candidates:
            by_video.setdefault(shot.video_id, [[] for _ in range(steps)])[i].append((shot, score))
    runs: list[tuple[list[tuple[Shot, float]], float]] = []
    for lists in by_video.values():
        if not all(lists):
            continue
        for candidates in lists:
            candidates.sort(key=lambda c: c[0].start)
        # from the last step back: the best continuation from each candidate of step i
        best: list[tuple[float, list[tuple[Shot, float]]] | None] = [
            (score, [(shot, score)]) for shot, score in lists[-1]
        ]
        for i in range(steps - 2, -1, -1):
            following = lists[i + 1]
            starts = [shot.start for shot, _ in following]
            here: list[tuple[float, list[tuple[Shot, float]]] | None] = []
            for shot, score in lists[i]:
                lo = bisect.bisect_left(starts, shot.end - 1e-6)
                hi = bisect.bisect_right(starts, shot.end + within + 1e-6)
                options = [best[k] for k in range(lo, hi) if best[k] is not None]
                if not options:
                    here.append(None)
                    continue
                total, chain = max(options, key=lambda o: o[0])
                here.append((score + total, [(shot, score), *chain]))
            best = here
        for entry in best:
            if entry is not None:
                total, chain = entry
                runs.append((chain, total / steps))
    runs.sort(key=lambda run: -run[1])
    return runs


def _vlm_steps(
    settings: Settings, store: ShotStore, query: SearchQuery, progress: Progress | None
) -> list[Enricher]:
    """The enrichment the query asks for: stored captions on every hit; with ``rerank`` or
    ``explain``, the VLM's judgement of the top hits (pipeline/captions.py)."""
    from shotseek.pipeline import captions

    steps: list[Enricher] = [lambda r: captions.with_captions(settings, store, r)]
    if query.rerank or query.explain:
        count = query.rerank or min(DEFAULT_RERANK, query.limit)
        steps.append(
            lambda r: captions.judge_hits(
                settings, r, count, rerank=query.rerank > 0, progress=progress
            )
        )
    return steps


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
    rerank: int = 0,
    explain: bool = False,
    encoder: ClipEncoder | TextGraph | None = None,
    enrich: Sequence[Enricher] = (),
    progress: Progress | None = None,
) -> SearchResult:
    """A new search built on an earlier one plus feedback: "more like these, not like those".
    The VLM judges the new hits only when this refinement asks (``rerank``, ``explain``): its
    parent's judgements are not made again (they cost seconds a shot)."""
    try:
        new = Feedback(
            positive=[s.strip() for s in positive or []],
            negative=[s.strip() for s in negative or []],
            text=[t.strip() for t in text or [] if t.strip()],
            negative_text=[t.strip() for t in negative_text or [] if t.strip()],
        )
    except ValidationError as exc:
        raise QueryError(f"bad feedback: {validation_message(exc)}") from exc
    record = history.load_search_record(settings, search_id)
    parent = record.result
    if not (new.positive or new.negative or new.text or new.negative_text):
        raise QueryError("refine needs feedback: --positive/--negative shot ids, or --text/--not")
    new = new.model_copy(
        update={
            "positive": [resolve_shot_id(parent, s) for s in new.positive],
            "negative": [resolve_shot_id(parent, s) for s in new.negative],
        }
    )
    both = set(new.positive) & set(new.negative)
    if both:
        raise QueryError(f"shot {sorted(both)[0]} is marked both positive and negative")
    model = reader_model(store, settings, parent.model_id)
    model_id = model.model_id
    feedback = parent.feedback.plus(new)
    judged = [*feedback.positive, *feedback.negative]
    vectors = store.shot_vectors(model_id, judged)
    unknown = [s for s in judged if s not in vectors]
    if unknown:
        raise UnknownShotError(
            f"unknown shot id(s) {', '.join(unknown)}: use shot ids from the hits of a search "
            "(a re-indexed video gets new shot ids)"
        )
    words = {*feedback.text, *feedback.negative_text}
    if encoder is None and words:  # shots alone need no model: their vectors are stored
        encoder = reader_encoder(settings, model, text_only=True)
    said = {t: encoder.encode_text(t) for t in words} if encoder is not None else {}
    base = np.asarray(record.vector, dtype=np.float32)
    query = parent.query.model_copy(  # a sequence's refinement: its first step, as shots
        update={
            "limit": limit or parent.query.limit,
            "rerank": rerank,
            "explain": explain,
            "then": None,
        }
    )
    found = store.query(
        model_id,
        positive_vectors=[
            base,
            *(vectors[s] for s in feedback.positive),
            *(said[t] for t in feedback.text),
        ],
        negative_vectors=[
            *(vectors[s] for s in feedback.negative),
            *(said[t] for t in feedback.negative_text),
        ],
        video_ids=query.videos,
        after=query.after,
        before=query.before,
        exclude_ids=[] if include_judged else judged,
        limit=_fetch_size(query),
    )
    return answer(
        settings,
        model_id,
        query,
        found,
        vector=base,
        judged=False,
        feedback=feedback,
        parent_id=parent.search_id,
        enrich=[*_vlm_steps(settings, store, query, progress), *enrich],
        notes=[encoder.text_overflow(t) for t in new.text + new.negative_text] if encoder else [],
    )


def resolve_shot_id(parent: SearchResult, ref: str) -> str:
    """A shot id, or a unique prefix of one (as tables print them) among the shots the search
    chain has shown or judged; anything else is passed on as given, to be checked."""
    seen = {h.shot.shot_id for h in parent.hits}
    seen.update(parent.feedback.positive, parent.feedback.negative)
    if ref in seen or len(ref) >= 36:
        return ref
    matches = sorted(s for s in seen if s.startswith(ref.lower()))
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise QueryError(f"shot id prefix {ref!r} matches several shots; give more characters")
    return ref


def load_search(settings: Settings, search_id: str) -> SearchResult:
    """A kept search, as it was answered."""
    return history.load_search_record(settings, search_id).result
