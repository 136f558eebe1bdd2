"""Retrieval metrics and rank fusion, shared by ``shotseek eval`` and the benchmarks in bench/.

A query is answered at rank k when one of its first k results is relevant; ``rank_of`` finds the
first relevant rank (1-based, None when none is), and the metrics are computed from those ranks
so that one pass over the results gives every R@k, the MRR and the median rank.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from statistics import median
from typing import TypeVar

from shotseek.pipeline.config import RRF_K

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
