"""Still pictures reuse the last embedded sample's vector: fewer model calls, same shots."""

from __future__ import annotations

import numpy as np
import pytest

from shotseek.pipeline.config import STILL_THRESHOLD, Settings
from shotseek.pipeline.index import index_video
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import search
from shotseek.pipeline.stills import StillFilter
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.footage import Scene, make_footage, standard_footage


def _frame(level: int, square_at: int | None = None, lift: int = 0) -> np.ndarray:
    img = np.full((180, 320, 3), level, np.uint8)
    if square_at is not None:
        img[60:120, square_at : square_at + 60] = (200, 40, 40)
    img[:72] += np.uint8(lift)  # the top 40 % of the picture, ``lift`` levels brighter
    return img


def test_a_still_picture_reuses_and_a_slow_change_adds_up_until_it_counts():
    stills = StillFilter(STILL_THRESHOLD)
    assert not stills.is_still(_frame(80))  # the first sample is always embedded
    assert stills.is_still(_frame(80)) and stills.is_still(_frame(80))
    assert not stills.is_still(_frame(80, square_at=100))  # a new object: embedded
    # a picture creeping a little per sample (0.4 levels on average): each step is small, but
    # it is compared with the last embedded sample, so the drift is embedded once it counts
    creeping = [stills.is_still(_frame(80, square_at=100, lift=k)) for k in range(1, 6)]
    assert creeping == [True, False, True, False, True]
    assert stills.reused == 2 + creeping.count(True)
    off = StillFilter(0.0)
    assert not off.is_still(_frame(80)) and not off.is_still(_frame(80))


STILLS = (
    Scene("red", "square", 9.0, background=60, velocity=(0, 0), spin=0.0),
    Scene("blue", "circle", 9.0, background=160, velocity=(0, 0), spin=0.0),
    Scene("green", "star", 9.0, background=30, velocity=(0, 0), spin=0.0),
)


@pytest.fixture(scope="module")
def static_video(tmp_path_factory):
    """A static-heavy file: three locked-off pictures joined by cuts, one recurring."""
    folder = tmp_path_factory.mktemp("stills")
    return make_footage(folder / "static.mp4", STILLS, order=(0, 1, 2, 0), fps=10.0)


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory):
    return standard_footage(tmp_path_factory.mktemp("moving") / "standard.mp4")


def _index(video, tmp_path, tiny_encoder, monkeypatch, threshold):
    calls = []
    encode = type(tiny_encoder)._image_batch

    def counted(self, pixels):
        calls.append(len(pixels))
        return encode(self, pixels)

    monkeypatch.setattr(type(tiny_encoder), "_image_batch", counted)
    settings = Settings(
        data_dir=tmp_path / f"data-{threshold}", model=TINY_CLIP, still_threshold=threshold
    )
    store = ShotStore(settings)
    outcome = index_video(video.path, settings, store=store, encoder=tiny_encoder)
    shots = store.shots_of(tiny_encoder.model_id, outcome.video_id)
    monkeypatch.setattr(type(tiny_encoder), "_image_batch", encode)
    return settings, store, shots, sum(calls)


def _shape(shots):
    return [(s.start, s.end, s.scene, s.class_index, s.boundary, s.frame_count) for s in shots]


@pytest.mark.parametrize("video", ["static_video", "moving_video"])
def test_skipping_stills_keeps_shots_classes_and_search_results(
    video, request, tmp_path, tiny_encoder, monkeypatch
):
    footage = request.getfixturevalue(video)
    every, every_store, every_shots, every_calls = _index(
        footage, tmp_path, tiny_encoder, monkeypatch, 0.0
    )
    skip, skip_store, skip_shots, skip_calls = _index(
        footage, tmp_path, tiny_encoder, monkeypatch, STILL_THRESHOLD
    )
    assert _shape(skip_shots) == _shape(every_shots)
    assert skip_calls <= every_calls
    if video == "static_video":
        assert skip_calls <= every_calls / 5, (skip_calls, every_calls)  # 36 s, 73 samples
    for query in ("a red square", "a blue circle", "a green star", "a yellow triangle"):
        want = search(every, every_store, SearchQuery(text=query), record=False)
        got = search(skip, skip_store, SearchQuery(text=query), record=False)
        assert [_at(h) for h in got.hits[:3]] == [_at(h) for h in want.hits[:3]]
        assert got.hits[0].score == pytest.approx(want.hits[0].score, abs=0.01)
    every_store.close()
    skip_store.close()


def _at(hit):
    return hit.shot.start, hit.shot.end
