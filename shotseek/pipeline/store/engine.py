"""What a store engine does, in shotseek's own terms, so that the rest of the code never sees
which Qdrant it talks to.

An engine keeps named collections of points (an id, an optional dense vector named ``clip``, an
optional sparse vector named ``caption``, a JSON payload) and answers filtered nearest-neighbour,
recommendation and text queries over them. Two engines implement it: :mod:`.edge` (Qdrant Edge,
in-process, the embedded default) and :mod:`.qdrant` (qdrant-client: a Qdrant server, or its
local mode, which stands in for a server in tests and is read when migrating old stores).

Every engine call is one operation of the engine: it is applied completely or not at all, even
when the process is killed during it (Edge writes it to its write-ahead log first; a server gets
it as one request). :class:`~.shots.ShotStore` builds its crash-safe write sequence from that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

VECTOR = "clip"  # the dense CLIP vector of a shot
TEXT_VECTOR = "caption"  # the sparse BM25 vector of a shot's caption

FieldType = Literal["keyword", "integer", "float"]


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: term ids and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Where:
    """A filter: every condition given must hold."""

    equals: Mapping[str, str | int] = field(default_factory=dict)
    any_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    none_of: Mapping[str, Sequence[str]] = field(default_factory=dict)
    greater: Mapping[str, float] = field(default_factory=dict)
    less: Mapping[str, float] = field(default_factory=dict)
    not_ids: Sequence[str] = ()

    def also(self, **conditions: Any) -> Where:
        """This filter with more conditions (same kind of keyword arguments as the fields)."""
        merged = {
            name: {**getattr(self, name), **value} if isinstance(value, Mapping) else value
            for name, value in conditions.items()
        }
        if "not_ids" in merged:
            merged["not_ids"] = tuple(self.not_ids) + tuple(merged["not_ids"])
        return Where(**{**self.__dict__, **merged})


@dataclass
class Point:
    """A point as written and read back. ``vector`` None: the point has no CLIP vector (a video
    record, or a read that did not ask for vectors)."""

    id: str
    payload: dict[str, Any]
    vector: np.ndarray | None = None
    caption: Sparse | None = None


@dataclass(frozen=True)
class Collection:
    """A collection's name, what was recorded when it was made, and how far its search index
    (HNSW) is built."""

    name: str
    metadata: dict[str, Any]
    points: int = 0
    indexed: int = 0
    building: bool = False
    build_due: bool = False  # enough vectors are outside the index for a build to take them in


class Engine(Protocol):
    """The operations :class:`~.shots.ShotStore` needs from a Qdrant engine."""

    location: str

    def close(self) -> None: ...

    def collections(self) -> dict[str, dict[str, Any]]:
        """Every collection's name and metadata."""
        ...

    def exists(self, name: str) -> bool: ...

    def create(
        self,
        name: str,
        *,
        dim: int | None,
        metadata: dict[str, Any],
        indexes: Mapping[str, FieldType],
    ) -> None:
        """A new collection: with a cosine ``clip`` vector of ``dim`` and a sparse ``caption``
        vector (IDF-weighted) when ``dim`` is given, vector-less otherwise; payload indexes on
        the named fields."""
        ...

    def describe(self, name: str) -> Collection: ...

    def upsert(self, name: str, points: Sequence[Point]) -> None: ...

    def delete(self, name: str, where: Where) -> None: ...

    def delete_ids(self, name: str, ids: Sequence[str]) -> None: ...

    def set_payload(self, name: str, payload: dict[str, Any], where: Where) -> None: ...

    def set_caption(self, name: str, point_id: str, caption: Sparse, payload: dict) -> None:
        """Give a point a caption vector and the payload fields that go with it."""
        ...

    def retrieve(self, name: str, ids: Sequence[str], *, vectors: bool = False) -> list[Point]: ...

    def scroll(
        self, name: str, where: Where | None, *, vectors: bool = False
    ) -> Iterator[Point]: ...

    def count(self, name: str, where: Where | None) -> int: ...

    def facet(self, name: str, key: str, where: Where | None = None) -> dict[str, int]:
        """How many points hold each value of a keyword field."""
        ...

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
        """The best points for one of: ``nearest`` (cosine), a recommendation from example
        vectors (best-score strategy), or ``text`` (BM25 over captions)."""
        ...

    def build_index(self, name: str, *, background: bool = False) -> bool:
        """Build what searches need that writes left for later (HNSW); True when work was done
        (or, ``background``, started while searches go on)."""
        ...
