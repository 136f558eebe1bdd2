"""Semantic analysis of one video: classes → scenes → shots → shot embeddings.

Input: the frame embeddings of one video (N × D, L2-normalised) and their times.

1. **Classes** (coarse grouping, time ignored): average-linkage agglomerative clustering of the
   frame embeddings under cosine distance, cut at ``class_threshold``; the number of classes
   follows from the data. Long videos are first compressed into runs of near-identical
   consecutive frames so the clustering stays small.
2. **Scenes** (class diarization): maximal runs of consecutive frames with the same class, after
   smoothing: the shortest run under ``min_scene_seconds`` is merged into the neighbouring run
   it resembles most (mean embedding), until none is left. A dissolve's blended frames form such
   a short run, so a dissolve gives one boundary, not several.
3. **Shots**: every camera boundary (a cut or dissolve found on every decoded frame by
   :mod:`shotseek.pipeline.cuts`) starts a shot, at that frame's exact time; a scene boundary
   within one sample of a camera boundary moves onto it. Inside each camera shot, agglomerative
   clustering with a connectivity constraint that only joins neighbours in time, cut at
   ``shot_threshold``, may split a long take whose content changes (a pan from sea to town);
   such a content shot shorter than ``min_shot_seconds`` (the blended frames of a dissolve the
   cut detector did not see) is merged into the neighbour it resembles most, the same smoothing
   scenes get. A shot starts at its camera boundary's time, or else at its first sample's.
4. **Shot embeddings**: the L2-normalised mean of the shot's frame embeddings; the keyframe is
   the frame nearest to it (the earliest, among frames within :data:`KEYFRAME_TIE` of it).

Everything is deterministic: the same vectors give the same structure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering

from shotseek.pipeline.models import BoundaryKind, CameraBoundary, Shot, Span, shot_id_for
from shotseek.pipeline.timecode import SourceClock

#: Above this many items, classes are clustered on runs of near-identical frames.
MAX_CLUSTER_ITEMS = 3000
#: Consecutive frames at least this similar (cosine) form one run before class clustering.
RUN_SIMILARITY = 0.97
#: A shot's keyframe is its earliest frame at most this far (cosine) from the best match to the
#: shot's mean: the same frame however the vectors were batched (batches of other sizes, other
#: files beside them, move a vector by ~1e-7 and could swap two near-identical frames).
KEYFRAME_TIE = 1e-5


class SegmentParams(BaseModel):
    """The knobs of the analysis; defaults are in :class:`~shotseek.pipeline.config.Settings`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    class_threshold: float = Field(gt=0, lt=2)
    min_scene_seconds: float = Field(ge=0)
    shot_threshold: float = Field(gt=0, lt=2)
    min_shot_seconds: float = Field(ge=0)


@dataclass(frozen=True)
class SceneRun:
    start: int  # first frame index
    end: int  # one past the last frame index
    klass: int


@dataclass(frozen=True)
class ShotRun:
    start: int
    end: int
    scene: int
    klass: int
    keyframe: int  # frame index nearest to the shot's mean embedding
    start_time: float  # seconds: the camera boundary's frame, or the first sample's time
    boundary: BoundaryKind


@dataclass(frozen=True)
class Structure:
    """The hierarchy of one video, in frame indices; times are looked up by the caller."""

    frame_classes: np.ndarray  # N class labels (after smoothing)
    n_classes: int
    scenes: list[SceneRun]
    shots: list[ShotRun]
    shot_vectors: np.ndarray  # S × D, L2-normalised


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _runs_of_similar_frames(vectors: np.ndarray) -> np.ndarray:
    """Group id per frame: a new group starts when a frame departs from its group's first."""
    groups = np.zeros(len(vectors), dtype=np.int64)
    anchor, gid = vectors[0], 0
    for i in range(1, len(vectors)):
        if float(vectors[i] @ anchor) < RUN_SIMILARITY:
            gid += 1
            anchor = vectors[i]
        groups[i] = gid
    return groups


def classify(vectors: np.ndarray, threshold: float) -> np.ndarray:
    """Class label per frame (0..K-1, numbered by first appearance)."""
    n = len(vectors)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    items, owner = vectors, np.arange(n)
    if n > MAX_CLUSTER_ITEMS:
        owner = _runs_of_similar_frames(vectors)
        items = _normalise(np.stack([vectors[owner == g].mean(0) for g in range(owner.max() + 1)]))
        if len(items) > MAX_CLUSTER_ITEMS:  # keep every k-th run as representative, assign rest
            step = int(np.ceil(len(items) / MAX_CLUSTER_ITEMS))
            reps = items[::step]
            rep_labels = _agglomerate(reps, threshold)
            nearest = np.argmax(items @ reps.T, axis=1)
            return _renumber(rep_labels[nearest][owner])
    labels = _agglomerate(items, threshold) if len(items) > 1 else np.zeros(1, np.int64)
    return _renumber(labels[owner])


def _agglomerate(items: np.ndarray, threshold: float, connectivity=None) -> np.ndarray:
    model = AgglomerativeClustering(
        n_clusters=None,
        distance_threshold=threshold,
        metric="cosine",
        linkage="average",
        connectivity=connectivity,
    )
    return model.fit_predict(items.astype(np.float64))


def _renumber(labels: np.ndarray) -> np.ndarray:
    """Relabel so classes are numbered in order of first appearance (stable, readable)."""
    mapping: dict[int, int] = {}
    out = np.empty_like(labels)
    for i, lab in enumerate(labels.tolist()):
        out[i] = mapping.setdefault(lab, len(mapping))
    return out


def _merge_short_runs(
    runs: list[list[int]],
    times: np.ndarray,
    end_time: float,
    vectors: np.ndarray,
    min_seconds: float,
) -> list[list[int]]:
    """Merge the shortest run under ``min_seconds`` into the neighbour whose mean embedding it
    resembles most, until none is left. A run is ``[start, end, label]``; neighbours that end
    up with the same label become one run (a label of -1 never joins)."""

    def seconds(r: list[int]) -> float:
        stop = times[r[1]] if r[1] < len(times) else end_time
        return float(stop - times[r[0]])

    def mean(r: list[int]) -> np.ndarray:
        return _normalise(vectors[r[0] : r[1]].mean(0))

    runs = [list(r) for r in runs]
    while len(runs) > 1:
        lengths = [seconds(r) for r in runs]
        i = int(np.argmin(lengths))
        if lengths[i] >= min_seconds:
            break
        run = runs[i]
        neighbours = [j for j in (i - 1, i + 1) if 0 <= j < len(runs)]
        target = max(neighbours, key=lambda j: (float(mean(runs[j]) @ mean(run)), -j))
        into = runs[target]
        into[0], into[1] = min(into[0], run[0]), max(into[1], run[1])
        del runs[i]
        merged: list[list[int]] = []
        for r in runs:
            if merged and merged[-1][2] == r[2] and r[2] != -1:
                merged[-1][1] = r[1]
            else:
                merged.append(r)
        runs = merged
    return runs


def diarize(
    labels: np.ndarray, times: np.ndarray, end_time: float, vectors: np.ndarray, min_seconds: float
) -> list[SceneRun]:
    """Scenes: runs of equal class labels with runs shorter than ``min_seconds`` merged away."""
    runs: list[list[int]] = []  # [start, end, class]
    for i, lab in enumerate(labels.tolist()):
        if runs and runs[-1][2] == lab:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, lab])
    runs = _merge_short_runs(runs, times, end_time, vectors, min_seconds)
    return [SceneRun(r[0], r[1], r[2]) for r in runs]


def split_shots(vectors: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Contiguous runs (start, end) inside one scene, by time-constrained clustering."""
    n = len(vectors)
    if n < 3:
        return [(0, n)]
    chain = sparse.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n), format="csr")
    labels = _agglomerate(vectors, threshold, connectivity=chain)
    bounds = [0] + [i for i in range(1, n) if labels[i] != labels[i - 1]] + [n]
    return list(zip(bounds[:-1], bounds[1:]))


def camera_starts(times: np.ndarray, cuts: Sequence[CameraBoundary]) -> dict[int, CameraBoundary]:
    """Sample index → the camera boundary just before it (in ``(times[i-1], times[i]]``).

    A camera shot holding no sample has no index of its own: the first of several boundaries
    between two samples is kept (indexing samples such shots so this does not happen)."""
    starts: dict[int, CameraBoundary] = {}
    for cut in sorted(cuts, key=lambda c: c.time):
        i = int(np.searchsorted(times, cut.time - 1e-6, side="left"))
        if 0 < i < len(times):
            starts.setdefault(i, cut)
    return starts


def _snap_scenes(scenes: list[SceneRun], starts: dict[int, CameraBoundary]) -> list[SceneRun]:
    """Move a scene boundary that lies one sample off a camera boundary onto it: the class
    change and the cut are the same event, seen at sample and at frame resolution."""
    bounds = [s.start for s in scenes] + [scenes[-1].end]
    for k in range(1, len(bounds) - 1):
        if bounds[k] in starts:
            continue
        for j in (bounds[k] - 1, bounds[k] + 1):
            if j in starts and bounds[k - 1] < j < bounds[k + 1]:
                bounds[k] = j
                break
    return [SceneRun(a, b, s.klass) for s, a, b in zip(scenes, bounds, bounds[1:])]


def analyse(
    vectors: np.ndarray,
    times: np.ndarray,
    end_time: float,
    params: SegmentParams,
    cuts: Sequence[CameraBoundary] = (),
) -> Structure:
    """Classes → scenes → shots → shot embeddings for one video's frame embeddings, with the
    camera boundaries found on every frame (none: shots come from the embeddings alone)."""
    if len(vectors) == 0:
        raise ValueError("no frames to analyse")
    if len(vectors) != len(times):
        raise ValueError(f"{len(vectors)} vectors but {len(times)} times")
    vectors = _normalise(np.asarray(vectors, dtype=np.float32))
    times = np.asarray(times, dtype=np.float64)
    starts = camera_starts(times, cuts)
    labels = classify(vectors, params.class_threshold)
    scenes = _snap_scenes(
        diarize(labels, times, end_time, vectors, params.min_scene_seconds), starts
    )
    # class ids are renumbered so the classes that survived smoothing are 0..K-1
    frame_classes = np.empty(len(vectors), dtype=np.int64)
    for s in scenes:
        frame_classes[s.start : s.end] = s.klass
    frame_classes = _renumber(frame_classes)
    scenes = [SceneRun(s.start, s.end, int(frame_classes[s.start])) for s in scenes]

    shots: list[ShotRun] = []
    shot_vectors = []
    for si, scene in enumerate(scenes):
        edges = [scene.start, *sorted(i for i in starts if scene.start < i < scene.end), scene.end]
        for first, stop in zip(edges, edges[1:]):  # one camera shot, or its part in this scene
            runs = [
                [first + a, first + b, -1]
                for a, b in split_shots(vectors[first:stop], params.shot_threshold)
            ]
            runs = _merge_short_runs(runs, times, end_time, vectors, params.min_shot_seconds)
            for start, end, _ in runs:
                mean = _normalise(vectors[start:end].mean(0))
                fit = vectors[start:end] @ mean
                keyframe = start + int(np.flatnonzero(fit >= fit.max() - KEYFRAME_TIE)[0])
                camera = starts.get(start)
                shots.append(
                    ShotRun(
                        start,
                        end,
                        si,
                        scene.klass,
                        keyframe,
                        start_time=0.0
                        if start == 0
                        else camera.time
                        if camera
                        else float(times[start]),
                        boundary="start" if start == 0 else camera.kind if camera else "content",
                    )
                )
                shot_vectors.append(mean)
    return Structure(
        frame_classes=frame_classes,
        n_classes=int(frame_classes.max()) + 1,
        scenes=scenes,
        shots=shots,
        shot_vectors=np.stack(shot_vectors).astype(np.float32),
    )


def shot_spans(structure: Structure, end_time: float) -> list[Span]:
    """Each shot's span in seconds: from its start to the next shot's start (the last shot ends
    at ``end_time``, where the stream ends)."""
    starts = [run.start_time for run in structure.shots]
    return [Span(start=a, end=max(a, b)) for a, b in zip(starts, [*starts[1:], end_time])]


def to_shots(
    structure: Structure,
    times: np.ndarray,
    end_time: float,
    *,
    video_id: str,
    run_id: str,
    path: str,
    thumbnails: list[str],
    clock: SourceClock | None = None,
) -> list[Shot]:
    """The structure (frame indices) as stored shots (times, ids, thumbnails, and with the
    file's ``clock`` the source timecode editors show)."""
    return [
        Shot(
            shot_id=shot_id_for(video_id, run_id, i),
            video_id=video_id,
            path=path,
            index=i,
            start=span.start,
            end=span.end,
            scene=run.scene,
            class_index=run.klass,
            keyframe_time=float(times[run.keyframe]),
            thumbnail=thumb,
            frame_count=run.end - run.start,
            boundary=run.boundary,
            source_tc=clock.timecode(clock.frame_at(span.start)) if clock else None,
        )
        for i, (run, span, thumb) in enumerate(
            zip(structure.shots, shot_spans(structure, end_time), thumbnails)
        )
    ]
