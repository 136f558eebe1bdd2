"""Retrieval metrics and rank fusion, shared by ``shotseek eval`` and the benchmarks in bench/.

A query is answered at rank k when one of its first k results is relevant; ``rank_of`` finds the
first relevant rank (1-based, None when none is), and the metrics are computed from those ranks
so that one pass over the results gives every R@k, the MRR and the median rank.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Hashable, Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, Field

from shotseek.pipeline.config import (
    EVAL_DEPTH,
    EVAL_KS,
    MAX_TEXT_CHARS,
    RRF_K,
    SEQUENCE_STEPS_MAX,
    SEQUENCE_WITHIN_MAX,
    SEQUENCE_WITHIN_S,
    Settings,
)
from shotseek.pipeline.errors import QueryError, ShotseekError
from shotseek.pipeline.models import SearchMode, SearchQuery
from shotseek.pipeline.timecode import FrameRateNeeded, format_timecode, parse_timecode

if TYPE_CHECKING:
    from shotseek.pipeline.store import ShotStore

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def rank_of(results: Sequence[T], relevant: Callable[[T], bool]) -> int | None:
    """1-based rank of the first relevant result, or None."""
    return next((i + 1 for i, r in enumerate(results) if relevant(r)), None)


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of queries answered within the first ``k`` results."""
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mean_reciprocal_rank(ranks: Sequence[int | None]) -> float:
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


def median_rank(ranks: Sequence[int | None]) -> float | None:
    """Median rank, counting unanswered queries as worse than any rank (None if most are)."""
    if not ranks:
        return None
    worst = float("inf")
    value = median([float(r) if r is not None else worst for r in ranks])
    return None if value == worst else value


def rrf(rankings: Iterable[Sequence[K]], k: int = RRF_K) -> list[K]:
    """Reciprocal-rank fusion: items ordered by the sum of 1 / (k + rank) over the rankings."""
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores, key=lambda i: -scores[i])


# -- shotseek eval: time-coded logs as ground truth ------------------------------------------


class LogEntry(BaseModel):
    """One line of a time-coded log: what a documentalist saw, and where."""

    line: int
    video: str
    start: float | None = Field(description="Seconds; None until the video's frame rate reads it.")
    end: float | None
    start_text: str = Field(description="As the log wrote it (HH:MM:SS:FF needs the rate).")
    end_text: str
    query: str
    then: list[str] = Field(
        default_factory=list, description="A sequence line: the steps after the query."
    )
    within: float = Field(SEQUENCE_WITHIN_S, description="A sequence's most seconds a step.")


class LogProblem(BaseModel):
    line: int
    reason: str


class QueryOutcome(BaseModel):
    """Where one log line's description was answered (``rank`` None: not in the first 50)."""

    line: int
    video: str
    start_tc: str
    end_tc: str
    query: str
    rank: int | None


class EvalRun(BaseModel):
    """One configuration's figures over the log."""

    name: str = Field(description="e.g. 'clip', 'hybrid', 'clip +rerank 10', with the model.")
    model_id: str
    mode: SearchMode
    rerank: int = 0
    queries: int
    recall: dict[int, float] = Field(description="R@k: share answered within the first k hits.")
    mrr: float
    median_rank: float | None = Field(description="None when most queries are not answered.")
    outcomes: list[QueryOutcome]


class EvalReport(BaseModel):
    log: str
    tolerance: float = Field(description="Seconds a hit may miss the logged span by.")
    runs: list[EvalRun]
    unknown_videos: list[str] = Field(description="Videos the log names that are not indexed.")
    skipped: int = Field(description="Log lines skipped: unknown video or malformed.")
    problems: list[LogProblem]


class EvalConfig(BaseModel):
    model_id: str
    mode: SearchMode = "clip"
    rerank: int = 0


_COLUMNS = ("video", "start", "end", "query")


def read_log(path: Path) -> tuple[list[LogEntry], list[LogProblem]]:
    """The lines of a CSV or TSV log with a header naming ``video, start, end, query`` (in any
    order; other columns are ignored); a malformed line is reported with its number, not read.
    A ``then`` column makes a line with steps in it (separated by ``;``) a sequence, searched
    as ``search --then`` (``within``, seconds, when the log has that column)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"cannot read the log {path}: {exc}") from exc
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = "\t" if "\t" in first or path.suffix.lower() == ".tsv" else ","
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [h.strip().lower() for h in next(rows, [])]
    missing = [c for c in _COLUMNS if c not in header]
    if missing:
        kind = "tab" if delimiter == "\t" else "comma"
        raise QueryError(
            f"{path}: line 1 must name the columns video, start, end, query ({kind}-separated); "
            f"missing: {', '.join(missing)}"
        )
    where = {c: header.index(c) for c in (*_COLUMNS, "then", "within") if c in header}
    entries, problems = [], []
    for number, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        try:
            if len(row) <= max(where[c] for c in _COLUMNS):
                raise IndexError
            cells = {c: row[i].strip() if i < len(row) else "" for c, i in where.items()}
        except IndexError:
            problems.append(
                LogProblem(line=number, reason=f"{len(row)} columns, not {len(header)}")
            )
            continue
        then = [step.strip() for step in cells.get("then", "").split(";") if step.strip()]
        try:
            within = float(cells["within"].removesuffix("s")) if cells.get("within") else None
            if within is not None and not 0 < within <= SEQUENCE_WITHIN_MAX:
                raise ValueError
        except ValueError:
            problems.append(
                LogProblem(
                    line=number,
                    reason=f"within: {cells['within']!r} is not seconds between 0 and "
                    f"{SEQUENCE_WITHIN_MAX:g}",
                )
            )
            continue
        if len(then) >= SEQUENCE_STEPS_MAX:
            problems.append(
                LogProblem(
                    line=number, reason=f"{len(then) + 1} steps: at most {SEQUENCE_STEPS_MAX}"
                )
            )
            continue
        try:
            start, end = parse_timecode(cells["start"]), parse_timecode(cells["end"])
        except FrameRateNeeded:  # HH:MM:SS:FF: read once the video (and its rate) is known
            start = end = None
        except ValueError as exc:
            problems.append(LogProblem(line=number, reason=str(exc)))
            continue
        if start is not None and end is not None and end < start:
            problems.append(
                LogProblem(line=number, reason=f"ends ({cells['end']}) before it starts")
            )
        elif not cells["query"]:
            problems.append(LogProblem(line=number, reason="no description in the query column"))
        elif not cells["video"]:
            problems.append(LogProblem(line=number, reason="no video named"))
        else:
            entries.append(
                LogEntry(
                    line=number,
                    video=cells["video"],
                    start=start,
                    end=end,
                    start_text=cells["start"],
                    end_text=cells["end"],
                    query=cells["query"],
                    then=then,
                    within=within or SEQUENCE_WITHIN_S,
                )
            )
    return entries, problems


def _run(name: str, config: EvalConfig, outcomes: list[QueryOutcome]) -> EvalRun:
    ranks = [o.rank for o in outcomes]
    return EvalRun(
        name=name,
        model_id=config.model_id,
        mode=config.mode,
        rerank=config.rerank,
        queries=len(outcomes),
        recall={k: recall_at(ranks, k) for k in EVAL_KS},
        mrr=mean_reciprocal_rank(ranks),
        median_rank=median_rank(ranks),
        outcomes=outcomes,
    )


class _FrameSpans:
    """Log lines' spans in seconds: those written HH:MM:SS:FF read at their video's own frame
    rate (probed from its file once), a line that cannot be read reported once."""

    def __init__(self, store: ShotStore, problems: list[LogProblem]) -> None:
        self.store, self.problems = store, problems
        self.rates: dict[str, Fraction | str] = {}
        self.failed: set[int] = set()

    def of(self, entry: LogEntry, model_id: str, video_id: str) -> tuple[float, float] | None:
        if entry.start is not None and entry.end is not None:
            return entry.start, entry.end
        if entry.line in self.failed:
            return None
        rate = self._rate(model_id, video_id)
        try:
            if isinstance(rate, str):
                raise ValueError(rate)
            start = parse_timecode(entry.start_text, rate)
            end = parse_timecode(entry.end_text, rate)
            if end < start:
                raise ValueError(f"ends ({entry.end_text}) before it starts")
        except ValueError as exc:
            self.failed.add(entry.line)
            self.problems.append(LogProblem(line=entry.line, reason=str(exc)))
            return None
        return start, end

    def _rate(self, model_id: str, video_id: str) -> Fraction | str:
        if video_id not in self.rates:
            from shotseek.pipeline.video import probe

            record = self.store.get_video(model_id, video_id)
            try:
                if record is None:
                    raise ShotseekError(f"video {video_id} is not indexed")
                fps = probe(Path(record.path)).average_fps
                if not fps:
                    raise ShotseekError(f"{record.path} has no frame rate in its header")
                self.rates[video_id] = Fraction(fps).limit_denominator(1001)
            except ShotseekError as exc:
                self.rates[video_id] = (
                    f"HH:MM:SS:FF is read at the video's frame rate, and it is not known: {exc}"
                )
        return self.rates[video_id]


def eval_configs(
    store: ShotStore, settings: Settings, *, compare: bool, mode: SearchMode, rerank: int
) -> list[EvalConfig]:
    """What ``shotseek eval`` runs: the readers' model in one mode, or (``compare``) every
    indexed model in clip, caption and hybrid mode, plus clip with reranking when asked."""
    from shotseek.pipeline.catalog import reader_model

    if not compare:
        chosen = reader_model(store, settings).model_id
        return [EvalConfig(model_id=chosen, mode=mode, rerank=rerank)]
    configs = []
    for model_id in sorted(store.models()):
        configs += [EvalConfig(model_id=model_id, mode=m) for m in ("clip", "caption", "hybrid")]
        if rerank:
            configs.append(EvalConfig(model_id=model_id, mode="clip", rerank=rerank))
    return configs


def evaluate(
    settings: Settings,
    store: ShotStore,
    log: Path,
    configs: Sequence[EvalConfig],
    *,
    tolerance: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Every configuration answers every log line's description; a line is answered at rank k
    when the k-th hit is in the logged video and overlaps the logged span widened by
    ``tolerance`` seconds on each side."""
    from shotseek.pipeline.catalog import reader_encoder
    from shotseek.pipeline.search import search

    entries, problems = read_log(log)
    spans = _FrameSpans(store, problems)
    runs: list[EvalRun] = []
    unknown: set[str] = set()
    done, total = 0, len(entries) * len(configs)
    for config in configs:
        model = store.models()[config.model_id]
        encoder = reader_encoder(settings, model)
        videos: dict[str, str | None] = {}
        outcomes, sequences = [], []
        for entry in entries:
            if entry.video not in videos:
                try:
                    videos[entry.video] = store.find_video(config.model_id, entry.video).video_id
                except ShotseekError:
                    videos[entry.video] = None
            video_id = videos[entry.video]
            done += 1
            if video_id is None:
                unknown.add(entry.video)
                continue
            span = spans.of(entry, config.model_id, video_id)
            if span is None:
                continue
            start, end = span
            if entry.then and (config.mode != "clip" or config.rerank):
                continue  # sequences are CLIP searches: measured in the clip run alone
            query = SearchQuery(
                text=entry.query[:MAX_TEXT_CHARS],
                limit=EVAL_DEPTH,
                mode=config.mode,
                rerank=config.rerank,
                then=[step[:MAX_TEXT_CHARS] for step in entry.then] or None,
                within=entry.within,
            )
            result = search(
                settings, store, query, encoder=encoder, model_id=config.model_id, record=False
            )
            lo, hi = start - tolerance, end + tolerance
            rank = rank_of(  # a sequence hit spans its run, first step to last
                result.hits,
                lambda h, v=video_id, lo=lo, hi=hi: (
                    h.shot.video_id == v
                    and h.shot.start < hi
                    and (h.steps[-1].shot.end if h.steps else h.shot.end) > lo
                ),
            )
            (sequences if entry.then else outcomes).append(
                QueryOutcome(
                    line=entry.line,
                    video=entry.video,
                    start_tc=format_timecode(start),
                    end_tc=format_timecode(end),
                    query=entry.query,
                    rank=rank,
                )
            )
            if progress is not None:
                progress(done, total)
        label = config.mode + (f" +rerank {config.rerank}" if config.rerank else "")
        runs.append(_run(f"{label} {config.model_id}", config, outcomes))
        if sequences:  # reported apart: a run's figures are for one kind of question
            runs.append(_run(f"{label} sequences {config.model_id}", config, sequences))
    skipped = len(problems) + sum(1 for e in entries if e.video in unknown)
    return EvalReport(
        log=str(log),
        tolerance=tolerance,
        runs=runs,
        unknown_videos=sorted(unknown),
        skipped=skipped,
        problems=problems,
    )
