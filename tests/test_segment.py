"""Semantic analysis on generated footage (tiny CLIP) and on hand-made vectors."""

from __future__ import annotations

import numpy as np
import pytest

from shotseek.pipeline.config import Settings
from shotseek.pipeline.index import segment_params
from shotseek.pipeline.segment import SegmentParams, analyse, diarize, split_shots
from shotseek.pipeline.video import sample_frames
from tests.kit.footage import standard_footage

FPS = 2.0


@pytest.fixture(scope="module")
def embedded(tiny_encoder, tmp_path_factory):
    footage = standard_footage(tmp_path_factory.mktemp("seg") / "plain.mp4")
    frames = list(sample_frames(footage.path, FPS))
    vectors = tiny_encoder.encode_images([f.image for f in frames])
    times = np.array([f.time for f in frames])
    structure = analyse(vectors, times, footage.duration, segment_params(Settings()))
    return footage, vectors, times, structure


def test_shot_boundaries_land_within_one_sample_of_every_true_cut(embedded):
    footage, _, times, structure = embedded
    starts = [times[s.start] for s in structure.shots]
    for cut in footage.cuts:
        assert min(abs(s - cut) for s in starts) <= 1 / FPS + 1e-6, (cut, starts)


def test_no_more_than_about_one_and_a_half_shots_per_true_segment(embedded):
    footage, _, _, structure = embedded
    assert len(structure.shots) <= 1.5 * len(footage.segments)


def test_the_recurring_scene_gets_the_class_of_its_first_appearance(embedded):
    footage, _, times, structure = embedded

    def class_at(t: float) -> int:
        i = int(np.searchsorted(times, t, side="right")) - 1
        return int(structure.frame_classes[i])

    segs = footage.segments
    assert segs[0].label == segs[4].label == "a yellow triangle"
    first, again = class_at(segs[0].start + 2), class_at(segs[4].start + 2)
    assert first == again
    others = {class_at(s.start + 2) for s in segs if s.label != segs[0].label}
    assert first not in others and len(others) == 4
    assert structure.n_classes == 5


def test_flicker_motion_and_zoom_do_not_split_a_scene(embedded):
    footage, _, times, structure = embedded
    # one scene per true segment: the flickering, moving, zooming scenes stay whole
    assert len(structure.scenes) == len(footage.segments)


def test_a_dissolve_gives_one_scene_boundary(embedded):
    footage, _, times, structure = embedded
    lo, hi = footage.dissolves[0]
    inside = [
        times[s.start] for s in structure.scenes if lo - 1 / FPS <= times[s.start] <= hi + 1 / FPS
    ]
    assert len(inside) == 1, inside


def test_shot_vectors_are_normalised_means_and_keyframes_lie_inside(embedded):
    _, vectors, _, structure = embedded
    for shot, vec in zip(structure.shots, structure.shot_vectors):
        mean = vectors[shot.start : shot.end].mean(0)
        np.testing.assert_allclose(vec, mean / np.linalg.norm(mean), atol=1e-5)
        assert shot.start <= shot.keyframe < shot.end
    covered = [i for s in structure.shots for i in range(s.start, s.end)]
    assert covered == list(range(len(vectors)))


def test_analysis_is_deterministic(embedded):
    _, vectors, times, structure = embedded
    again = analyse(vectors, times, times[-1] + 0.5, segment_params(Settings()))
    assert [(s.start, s.end, s.klass) for s in again.shots] == [
        (s.start, s.end, s.klass) for s in structure.shots
    ]


def _unit(v):
    v = np.asarray(v, dtype=np.float32)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_short_class_runs_are_merged_into_the_most_similar_neighbour():
    a, b, c = _unit([1, 0, 0]), _unit([0, 1, 0]), _unit([0.9, 0.1, 0])
    vectors = np.stack([a] * 6 + [c] + [b] * 6)
    labels = np.array([0] * 6 + [2] + [1] * 6)
    times = np.arange(13) * 0.5
    scenes = diarize(labels, times, 6.5, vectors, min_seconds=2.0)
    assert [(s.start, s.end, s.klass) for s in scenes] == [(0, 7, 0), (7, 13, 1)]


def test_shots_are_contiguous_even_when_looks_return():
    a, b = _unit([1, 0.05, 0]), _unit([0, 1, 0.05])
    vectors = np.stack([a] * 4 + [b] * 4 + [a] * 4)
    assert split_shots(vectors, 0.15) == [(0, 4), (4, 8), (8, 12)]


def test_long_videos_are_clustered_in_bounded_memory():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(6, 32)))
    labels = np.repeat(np.arange(60) % 6, 100)  # 6000 frames, 60 scenes of 50 s at 2 fps
    vectors = _unit(centres[labels] + 0.02 * rng.normal(size=(6000, 32)))
    times = np.arange(6000) * 0.5
    params = SegmentParams(
        class_threshold=0.3, min_scene_seconds=2.0, shot_threshold=0.15, min_shot_seconds=0.0
    )
    structure = analyse(vectors, times, 3000.0, params)
    assert structure.n_classes == 6
    assert len(structure.scenes) == 60


def test_a_dissolve_leaves_no_sliver_shot(embedded):
    """The blended frames of the dissolve used to form a 0.5 s shot of their own."""
    footage, _, times, structure = embedded
    assert footage.dissolves
    settings = Settings()
    for shot in structure.shots:
        end = times[shot.end] if shot.end < len(times) else footage.duration
        assert end - times[shot.start] >= settings.min_shot_seconds, (times[shot.start], end)


def test_short_shots_merge_into_the_neighbour_they_resemble():
    a, b = np.eye(4)[0], np.eye(4)[1]
    blend = (0.4 * a + 0.6 * b) / np.linalg.norm(0.4 * a + 0.6 * b)
    vectors = np.stack([a] * 6 + [blend] + [b] * 6).astype(np.float32)
    times = np.arange(len(vectors)) / 2.0
    params = SegmentParams(
        class_threshold=1.9, min_scene_seconds=0, shot_threshold=0.05, min_shot_seconds=1.0
    )
    shots = analyse(vectors, times, len(vectors) / 2.0, params).shots
    assert [(s.start, s.end) for s in shots] == [(0, 6), (6, 13)]
    unsmoothed = analyse(
        vectors, times, len(vectors) / 2.0, params.model_copy(update={"min_shot_seconds": 0.0})
    ).shots
    assert [(s.start, s.end) for s in unsmoothed] == [(0, 6), (6, 7), (7, 13)]
