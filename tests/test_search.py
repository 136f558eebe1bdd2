"""Search by text, image and both; refinement; filters; errors (tiny CLIP, generated footage)."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shotseek.pipeline.catalog import reader_encoder, reader_model
from shotseek.pipeline.config import CALIBRATION_MIN, Settings
from shotseek.pipeline.errors import (
    QueryError,
    SearchNotFoundError,
    StoreMismatchError,
    UnknownShotError,
    VideoNotFoundError,
)
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import refine, search
from shotseek.pipeline.store import ShotStore
from shotseek.server.cli import app
from tests.conftest import TINY_CLIP
from tests.kit.archive import indexed_store
from tests.kit.footage import Scene, make_footage, random_footage, standard_footage
from tests.kit.shapes import CLASSES, caption


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Three indexed videos: the standard one, a random one, and a colour/shape puzzle."""
    root = tmp_path_factory.mktemp("archive")
    media = root / "media"
    footage = {
        "standard": standard_footage(media / "standard.mp4"),
        "random": random_footage(media / "random.mp4", seed=11),
        "puzzle": make_footage(
            media / "puzzle.mp4",
            [
                Scene("red", "circle", 4.0),
                Scene("blue", "square", 4.0),
                Scene("red", "square", 4.0),
                Scene("blue", "circle", 4.0),
            ],
        ),
    }
    settings, store = indexed_store(media, root / "data")
    yield settings, store, footage, media
    store.close()


def label_of(footage, shot) -> str:
    middle = (shot.start + shot.end) / 2
    return next(s.label for s in footage.segments if s.start <= middle < s.end)


def test_every_present_colour_and_shape_is_found_at_rank_1(archive):
    settings, store, footage, _ = archive
    video = footage["standard"]
    for label in sorted({s.label for s in video.segments}):
        result = search(settings, store, SearchQuery(text=label, videos=["standard.mp4"]))
        assert label_of(video, result.hits[0].shot) == label, label
        assert result.hits[0].rank == 1 and result.hits[0].score >= result.hits[1].score


def test_something_absent_is_reported_as_no_good_match(archive):
    settings, store, footage, _ = archive
    shutil.rmtree(settings.data_dir / "calibration", ignore_errors=True)  # start uncalibrated
    present = [
        "a yellow triangle",
        "a blue circle",
        "a red square",
        "a green star",
        "a magenta circle",
        "a yellow triangle on a plain background",
    ]
    results = [search(settings, store, SearchQuery(text=q)) for q in present]
    assert results[0].no_good_match is None and "calibrating" in results[0].note
    assert all(r.no_good_match is False for r in results[CALIBRATION_MIN:])
    everything = {seg.label for f in footage.values() for seg in f.segments}
    missing = next(caption(c, s) for c, s in CLASSES if caption(c, s) not in everything)
    absent = search(settings, store, SearchQuery(text=missing))
    assert absent.no_good_match is True and "no good match" in absent.note
    assert absent.hits, "hits are still returned, flagged"
    again = search(settings, store, SearchQuery(text="a green star"))
    assert again.no_good_match is False
    # A search limited to some videos or times is not what the calibration describes (a
    # video's best shot scores below the archive's): not judged, and it does not teach it.
    learned = sorted((settings.data_dir / "calibration").glob("*.json"))
    before = [p.read_text() for p in learned]
    for limits in ({"videos": ["standard.mp4"]}, {"after": 3.0}, {"before": 2.0}):
        limited = search(settings, store, SearchQuery(text=missing, **limits))
        assert limited.no_good_match is None and "whole archive" in limited.note, limits
    assert [p.read_text() for p in learned] == before


def test_a_perturbed_frame_finds_its_scene_at_rank_1(archive, tmp_path):
    settings, store, footage, _ = archive
    frame = Scene("blue", "circle", 5.0, background=170, start_xy=(0.6, 0.45)).frame(2.0, 320, 180)
    crop = frame[20:170, 40:300].astype(np.float32) * 1.15  # crop and brighten
    still = tmp_path / "still.png"
    Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).save(still)
    result = search(settings, store, SearchQuery(image=str(still), videos=["standard.mp4"]))
    assert label_of(footage["standard"], result.hits[0].shot) == "a blue circle"
    data = search(
        settings, store, SearchQuery(videos=["standard.mp4"]), image_bytes=still.read_bytes()
    )
    assert data.hits[0].shot.shot_id == result.hits[0].shot.shot_id
    assert data.query.image.startswith("bytes:")


def test_text_and_image_together_find_what_neither_finds_alone(archive, tmp_path):
    settings, store, footage, _ = archive
    puzzle = footage["puzzle"]
    still = tmp_path / "blue_square.png"
    Image.fromarray(
        Scene("blue", "square", 1.0, background=160, start_xy=(0.6, 0.4)).frame(0.5, 320, 180)
    ).save(still)
    scope = {"videos": ["puzzle.mp4"]}
    text_only = search(settings, store, SearchQuery(text="a red circle", **scope))
    image_only = search(settings, store, SearchQuery(image=str(still), **scope))
    both = search(
        settings,
        store,
        SearchQuery(text="a red circle", image=str(still), image_weight=0.5, **scope),
    )
    assert label_of(puzzle, text_only.hits[0].shot) == "a red circle"
    assert label_of(puzzle, image_only.hits[0].shot) == "a blue square"
    assert label_of(puzzle, both.hits[0].shot) == "a red square"


def test_a_negative_removes_the_shot_and_its_look_alikes_drop(archive):
    settings, store, footage, _ = archive
    first = search(settings, store, SearchQuery(text="a yellow triangle", limit=12))
    yellow = [
        h
        for h in first.hits
        if h.shot.video_id == first.hits[0].shot.video_id
        and label_of(footage["standard"], h.shot) == "a yellow triangle"
    ]
    assert len(yellow) >= 2  # the recurring scene
    wrong = yellow[0].shot.shot_id
    refined = refine(settings, store, first.search_id, negative=[wrong], limit=12)
    ids = [h.shot.shot_id for h in refined.hits]
    assert wrong not in ids
    look_alike = yellow[1].shot.shot_id
    before = [h.shot.shot_id for h in first.hits].index(look_alike)
    after = ids.index(look_alike) if look_alike in ids else len(ids)
    assert after > before
    assert refined.parent_id == first.search_id and refined.feedback.negative == [wrong]


def test_a_positive_pulls_its_look_alikes_up(archive):
    settings, store, footage, _ = archive

    def label(shot):
        return label_of(footage[shot.path.rsplit("/", 1)[-1][:-4]], shot)

    first = search(settings, store, SearchQuery(text="a red square", limit=30))
    circles = [h for h in first.hits if label(h.shot) == "a blue circle"]
    assert len(circles) >= 2 and circles[0].rank > 2  # a wrong kind of hit, low down
    refined = refine(settings, store, first.search_id, positive=[circles[0].shot.shot_id], limit=30)
    # the positive itself is judged and not returned; its look-alikes rise to the top
    assert circles[0].shot.shot_id not in [h.shot.shot_id for h in refined.hits]
    assert label(refined.hits[0].shot) == "a blue circle"
    assert refined.hits[0].rank < circles[1].rank
    chained = refine(
        settings,
        store,
        refined.search_id,
        negative=[refined.hits[0].shot.shot_id],
        text=["a red square"],
    )
    assert chained.feedback.positive == [circles[0].shot.shot_id]
    assert chained.feedback.negative == [refined.hits[0].shot.shot_id]
    assert chained.feedback.text == ["a red square"]


def test_include_judged_returns_the_marked_shots_and_prefixes_name_them(archive):
    settings, store, _, _ = archive
    first = search(settings, store, SearchQuery(text="a red square", limit=8))
    liked, disliked = first.hits[2].shot.shot_id, first.hits[5].shot.shot_id
    # shot ids as the tables print them: a unique 8-character prefix
    mine = refine(settings, store, first.search_id, positive=[liked[:8]], negative=[disliked[:8]])
    assert mine.feedback.positive == [liked] and mine.feedback.negative == [disliked]
    ids = [h.shot.shot_id for h in mine.hits]
    assert liked not in ids and disliked not in ids
    shown = refine(
        settings, store, first.search_id, positive=[liked], negative=[disliked], include_judged=True
    )
    ids = [h.shot.shot_id for h in shown.hits]
    assert ids[0] == liked  # a positive is its own best match
    assert disliked not in ids[:3]  # a negative is pushed down, not hidden


def test_a_query_longer_than_the_model_reads_is_flagged(archive):
    settings, store, _, _ = archive
    long_text = "a red square " + "on a grey background seen from far away " * 12
    result = search(settings, store, SearchQuery(text=long_text))
    assert "the model reads only" in (result.note or "") and "put what matters first" in result.note
    short = search(settings, store, SearchQuery(text="a red square"))
    assert "the model reads only" not in (short.note or "")


def test_filters_and_timecodes_are_exact(archive):
    settings, store, footage, _ = archive
    video = footage["standard"]
    result = search(
        settings,
        store,
        SearchQuery(
            text="a yellow triangle", videos=["standard.mp4"], after=20.0, before=30.0, limit=50
        ),
    )
    assert result.hits
    for hit in result.hits:
        assert hit.shot.path.endswith("standard.mp4")
        assert hit.shot.end > 20.0 and hit.shot.start < 30.0
    assert label_of(video, result.hits[0].shot) == "a yellow triangle"
    assert result.hits[0].shot.start == 22.0 and result.hits[0].shot.start_tc == "00:00:22.000"

    capped = search(settings, store, SearchQuery(text="a blue circle", per_video=1, limit=10))
    videos = [h.shot.video_id for h in capped.hits]
    assert len(videos) == len(set(videos)) == 3
    floor = search(settings, store, SearchQuery(text="a blue circle", min_score=0.9, limit=50))
    assert floor.hits and all(h.score >= 0.9 for h in floor.hits)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (SearchQuery(text="   "), "empty query"),
        (SearchQuery(text="x", after=10, before=5), "time range is empty"),
        (SearchQuery(image="/no/such/still.png"), "no such file"),
        (SearchQuery(text="x", videos=["nope.mp4"]), "no indexed video matches"),
    ],
)
def test_bad_queries_are_explained(archive, query, message):
    settings, store, _, _ = archive
    with pytest.raises((QueryError, VideoNotFoundError), match=message):
        search(settings, store, query)


def test_an_unreadable_image_is_explained(archive, tmp_path):
    settings, store, _, _ = archive
    bad = tmp_path / "bad.jpg"
    bad.write_text("not really a jpeg")
    with pytest.raises(QueryError, match="not an image"):
        search(settings, store, SearchQuery(image=str(bad)))


def test_unknown_search_and_shot_ids_are_explained(archive):
    settings, store, _, _ = archive
    with pytest.raises(SearchNotFoundError, match="no search with id"):
        refine(settings, store, "deadbeef0000", positive=["x"])
    first = search(settings, store, SearchQuery(text="a green star"))
    with pytest.raises(UnknownShotError, match="00000000-0000-0000-0000-000000000000"):
        refine(settings, store, first.search_id, negative=["00000000-0000-0000-0000-000000000000"])
    with pytest.raises(QueryError, match="refine needs feedback"):
        refine(settings, store, first.search_id)


def test_an_empty_store_says_to_index_first(tmp_path):
    settings = Settings(data_dir=tmp_path, model=TINY_CLIP, device="cpu")
    with ShotStore(settings) as store:
        with pytest.raises(VideoNotFoundError, match="index some footage first"):
            search(settings, store, SearchQuery(text="a red square"))


def test_the_model_that_built_the_store_is_the_one_used_to_search(archive, monkeypatch):
    settings, store, _, _ = archive
    model = reader_model(store, settings)
    other = model.model_copy(update={"spec": {"model": "ViT-B-32", "pretrained": "none"}})
    with pytest.raises(StoreMismatchError, match="cannot be compared"):
        reader_encoder(settings, other)


def test_cli_search_then_refine_across_invocations(tmp_path, monkeypatch):
    media = tmp_path / "media"
    standard_footage(media / "clip.mp4")
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(media)]).exit_code == 0
    result = runner.invoke(
        app, ["search", "a green star", "--after", "00:00:10", "--limit", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    hit = found["hits"][0]
    assert hit["shot"]["start"] == 17.0 and hit["shot"]["start_tc"] == "00:00:17.000"
    result = runner.invoke(
        app, ["refine", found["search_id"], "--negative", hit["shot"]["shot_id"], "--json"]
    )
    assert result.exit_code == 0, result.output
    refined = json.loads(result.stdout)
    assert refined["parent_id"] == found["search_id"]
    assert hit["shot"]["shot_id"] not in [h["shot"]["shot_id"] for h in refined["hits"]]
    # The human tables fit 80 columns, keep every timecode whole, and their short shot ids work.
    result = runner.invoke(app, ["search", "a green star", "--limit", "4"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 80, result.stdout
    rows = [line.split() for line in lines if line.strip()[:1].isdigit()]
    assert len(rows) == 4 and all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", r[3]) for r in rows)
    search_id = re.search(r"shotseek refine (\w+)", result.stdout).group(1)
    short = rows[1][-1]
    assert len(short) == 8
    result = runner.invoke(app, ["refine", search_id, "--positive", short, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["feedback"]["positive"][0].startswith(short)
    for command in (["videos"], ["structure", "clip.mp4"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0 and max(map(len, result.stdout.splitlines())) <= 80, (
            result.output
        )
        assert "…" not in result.stdout
    result = runner.invoke(app, ["search"])
    assert result.exit_code == 2
    assert "empty query: give text, an image, or both" in result.stderr
    assert "Traceback" not in result.output
