"""Sequence queries, "this, then that": runs of shots in one video, in order, each step within
the gap of the one before. Generated footage with a known true run, a decoy in the wrong order
and a pair too far apart; the join itself on synthetic shots; the CLI and MCP doors."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp import Client
from typer.testing import CliRunner

from shotseek.pipeline.errors import QueryError
from shotseek.pipeline.models import SearchQuery, Shot
from shotseek.pipeline.search import join_steps, search
from shotseek.pipeline.store import ShotStore
from shotseek.server.cli import app
from tests.conftest import TINY_CLIP
from tests.kit.archive import indexed_store
from tests.kit.footage import Scene, make_footage

A, B = Scene("red", "circle", 3.0), Scene("blue", "square", 3.0)
X, FILL = Scene("yellow", "triangle", 3.0), Scene("green", "star", 12.0)
#: A 0-3, B 3-6 (the true run, gap 0), X 6-9, B 9-12 then A 12-15 (the decoy: B then A; no B
#: follows A@12 within 8 s), FILL 15-27, A 27-30, FILL 30-42, B 42-45 (12 s after A: too far).
ORDER = (0, 1, 2, 1, 0, 3, 0, 3, 1)
WITHIN = 8.0


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("sequences")
    make_footage(root / "media" / "runs.mp4", [A, B, X, FILL], ORDER)
    settings, store = indexed_store(root / "media", root / "data")
    store.close()
    return settings


def _shot(video: str, index: int, start: float, end: float) -> Shot:
    return Shot(
        shot_id=f"{video}-{index}",
        video_id=video,
        path=f"/{video}.mp4",
        index=index,
        scene=index,
        class_index=0,
        start=start,
        end=end,
        keyframe_time=start,
        frame_count=1,
    )


def test_the_join_keeps_order_and_gap_and_ranks_by_the_mean_of_the_steps():
    a0, b1, b2, a3 = (_shot("v", i, 3.0 * i, 3.0 * i + 3) for i in range(4))
    far = _shot("v", 9, 30.0, 33.0)
    other = _shot("w", 0, 3.0, 6.0)  # the right picture in another video: not a run
    first = [(a0, 0.9), (a3, 0.8)]
    second = [(b1, 0.5), (b2, 0.7), (far, 0.99), (other, 0.99)]
    runs = join_steps([first, second], within=4.0)
    # a0 → b2 (gap 3 s) beats a0 → b1 (gap 0) on the mean; a3 has nothing after it in 4 s; far
    # is 27 s after a0; one run per first shot
    assert [[s.shot_id for s, _ in run] for run, _ in runs] == [["v-0", "v-2"]]
    assert runs[0][1] == pytest.approx((0.9 + 0.7) / 2)
    assert join_steps([first, second], within=40.0)[0][0][1][0] is far
    # three steps, each after the one before
    c = _shot("v", 5, 15.0, 18.0)
    three = join_steps([first, second, [(c, 0.6)]], within=10.0)
    assert [[s.shot_id for s, _ in run] for run, _ in three][0] == ["v-0", "v-2", "v-5"]
    assert join_steps([[(b2, 0.9)], [(a0, 0.9)]], within=100.0) == []  # never backwards


def test_a_sequence_ranks_the_true_run_first_and_the_decoys_out(archive):
    with ShotStore(archive) as store:
        query = SearchQuery(text="a red circle", then=["a blue square"], within=WITHIN, limit=50)
        result = search(archive, store, query)
    top = result.hits[0]
    first, second = top.steps
    assert (first.shot.start, second.shot.start) == pytest.approx((0.0, 3.0), abs=0.15)
    assert top.shot.shot_id == first.shot.shot_id
    assert top.score == pytest.approx((first.score + second.score) / 2, abs=1e-5)
    starts = [tuple(round(s.shot.start) for s in hit.steps) for hit in result.hits]
    for hit in result.hits:
        a, b = hit.steps
        assert 0 <= b.shot.start - a.shot.end <= WITHIN + 1e-6  # in order, within the gap
    assert (27, 42) not in starts  # a red circle, then a blue square 12 s later: too far
    # the decoy, a blue square then a red circle, ranks under every run that starts with one
    decoy = starts.index((9, 12))
    assert all(starts.index(run) < decoy for run in starts if run[0] in (0, 12, 27))
    assert "sequence" in result.note and result.no_good_match is None


def test_sequences_refuse_what_they_cannot_do(archive):
    with ShotStore(archive) as store:
        for bad in (
            SearchQuery(text="a red circle", then=["  "]),
            SearchQuery(text="a red circle", then=["a blue square"], mode="hybrid"),
            SearchQuery(text="a red circle", then=["a blue square"], rerank=3),
        ):
            with pytest.raises(QueryError):
                search(archive, store, bad)
    with pytest.raises(ValueError):
        SearchQuery(text="x", then=["a", "b", "c", "d", "e"])  # five steps after the first


def test_the_cli_and_mcp_search_sequences_alike(archive, monkeypatch):
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(archive.data_dir))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    runner = CliRunner()
    args = ["search", "a red circle", "--then", "a blue square", "--within", "8s", "--limit", "5"]
    done = runner.invoke(app, [*args, "--json"])
    assert done.exit_code == 0, done.output
    cli = json.loads(done.stdout)["hits"]
    human = runner.invoke(app, args)
    assert "then a blue square" in human.stdout
    bad = runner.invoke(app, ["search", "x", "--then", "y", "--within", "soon"])
    assert bad.exit_code == 2 and "soon" in bad.output

    from shotseek.server.mcp_app import SharedContext, create_server

    shared = SharedContext(archive)

    async def go():
        async with Client(create_server(shared)) as client:
            return await client.call_tool(
                "search_shots",
                {"text": "a red circle", "then": ["a blue square"], "within": 8, "limit": 5},
            )

    try:
        answer = anyio.run(go)
    finally:
        shared.close()
    assert not answer.is_error, answer.content
    hits = answer.structured_content["hits"]
    assert [h["steps"] for h in hits] == [[s["shot"]["shot_id"] for s in h["steps"]] for h in cli]
    assert "then " in answer.content[0].text


def test_refining_a_sequence_refines_its_first_step_as_shots(archive):
    from shotseek.pipeline.search import refine

    with ShotStore(archive) as store:
        found = search(archive, store, SearchQuery(text="a red circle", then=["a blue square"]))
        refined = refine(archive, store, found.search_id, negative=[found.hits[0].shot.shot_id])
    assert refined.query.then is None and all(h.steps is None for h in refined.hits)
    assert found.hits[0].shot.shot_id not in [h.shot.shot_id for h in refined.hits]


def test_eval_reads_sequence_lines_and_reports_them_apart(archive, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(archive.data_dir))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    log = tmp_path / "log.csv"
    log.write_text(
        "video,start,end,query,then,within\n"
        "runs.mp4,0,6,a red circle,a blue square,8\n"  # the true run
        "runs.mp4,27,45,a red circle,a blue square,8\n"  # 12 s apart: too far, not answered
        "runs.mp4,3,6,a blue square,,\n"  # a plain line beside them
        "runs.mp4,0,3,a red circle,a;b;c;d;e,\n"  # six steps: refused with its line
        "runs.mp4,0,3,a red circle,a blue square,forever\n"
    )
    done = CliRunner().invoke(app, ["eval", str(log), "--json"])
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    plain, sequences = report["runs"]
    assert plain["queries"] == 1 and "sequences" in sequences["name"]
    ranks = [o["rank"] for o in sequences["outcomes"]]
    assert ranks[0] == 1 and ranks[1] != 1  # the far pair is never the top run
    assert [p["line"] for p in report["problems"]] == [5, 6]
