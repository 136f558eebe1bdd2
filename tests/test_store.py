"""The store: one interface over Qdrant Edge and qdrant-client (congruence), crash-safe writes
(a failure after every single store call, and kill -9 of a real writer), migration of older
embedded stores, and BM25 over captions."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import StoreMismatchError, StoreUnavailableError
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.store.edge import EdgeEngine
from shotseek.pipeline.store.qdrant import QdrantEngine
from shotseek.pipeline.store.shots import shots_collection, videos_collection
from tests.kit.legacy import write_legacy_store
from tests.kit.shots import MODEL, structured_vectors, synthetic_run

DIM = 32
ENGINES = ["edge", "local"]


def open_store(kind: str, folder: Path) -> ShotStore:
    settings = Settings(data_dir=folder)
    if kind.startswith("edge"):
        return ShotStore(settings, engine=EdgeEngine(folder / "edge", quantize=kind == "edge-int8"))
    return ShotStore(settings, engine=QdrantEngine(path=str(folder / "local")))


def _vectors(seed: int, n: int) -> np.ndarray:
    return structured_vectors(n, DIM, np.random.default_rng(seed), latent=8, clusters=6)


def _write(store: ShotStore, video_id: str, run: str, n: int, seed: int):
    vectors = _vectors(seed, n)
    record, shots = synthetic_run(video_id, vectors, run_id=run)
    store.write_run(record, shots, vectors)
    return record, shots, vectors


def _seen(found) -> list[tuple[str, float]]:
    return [(shot.shot_id, round(score, 4)) for shot, score in found]


def scenario(store: ShotStore) -> list:
    """Everything the rest of shotseek asks of a store, observed as plain data."""
    seen: list = []
    _, a_shots, a_vecs = _write(store, "vid-a", "a1", 12, 1)
    _write(store, "vid-b", "b1", 8, 2)
    _write(store, "vid-c", "c1", 5, 3)
    probe = _vectors(9, 1)[0]

    def look(tag: str) -> None:
        seen.append(
            (tag, "videos", [(v.video_id, v.run_id, v.n_shots) for v in store.list_videos(MODEL)])
        )
        seen.append((tag, "count", store.count_shots(MODEL), store.count_shots(MODEL, "vid-b")))
        for v in ("vid-a", "vid-b", "vid-c"):
            seen.append((tag, v, [(s.shot_id, s.index, s.path) for s in store.shots_of(MODEL, v)]))
        for scope in (
            {},
            {"limit": 1},
            {"limit": 100},
            {"video_ids": ["vid-a", "vid-b"]},
            {"video_ids": []},
            {"after": 5.0, "before": 11.0},
            {"exclude_ids": [a_shots[0].shot_id, a_shots[3].shot_id]},
            {"score_threshold": 0.2},
        ):
            seen.append((tag, "nearest", scope, _seen(store.query(MODEL, vector=probe, **scope))))
        seen.append(
            (
                tag,
                "recommend",
                _seen(
                    store.query(
                        MODEL,
                        positive_vectors=[a_vecs[2], a_vecs[5]],
                        negative_vectors=[a_vecs[7]],
                        video_ids=["vid-a", "vid-b", "vid-c"],
                        exclude_ids=[a_shots[i].shot_id for i in (2, 5, 7)],  # as refine does
                        limit=6,
                    )
                ),
            )
        )

    look("first")
    _write(store, "vid-b", "b2", 6, 4)  # re-index: fewer shots
    look("reindexed")
    store.delete_video(MODEL, "vid-c")
    store.update_path(MODEL, "vid-a", "/elsewhere/a.mp4")
    look("deleted and moved")
    seen.append(("get", sorted(store.get_shots(MODEL, [a_shots[1].shot_id, "not-a-uuid"]))))
    vecs = store.shot_vectors(MODEL, [a_shots[4].shot_id])
    seen.append(("vector", np.round(vecs[a_shots[4].shot_id], 4).tolist()))
    store.set_caption(MODEL, a_shots[2].shot_id, "A red car drives along a coastal road at dusk")
    store.set_caption(MODEL, a_shots[6].shot_id, "Two people talk in a kitchen; a dog sleeps")
    store.set_caption(MODEL, a_shots[8].shot_id, "A red bus and a red car at a crossing")
    for text in ("red car", "dog in the kitchen", "helicopter"):
        seen.append(("text", text, _seen(store.query(MODEL, text=text, limit=5))))
    fused = store.query(MODEL, vector=probe, text="red car", limit=6)  # hybrid: RRF
    seen.append(("hybrid", _seen(fused)))
    return seen


def test_both_engines_give_the_same_answers(tmp_path):
    observed = {}
    for kind in [*ENGINES, "edge-int8"]:  # and Edge with int8 vectors, rescored
        with open_store(kind, tmp_path / kind) as store:
            observed[kind] = scenario(store)
    assert observed["edge"] == observed["local"] == observed["edge-int8"]
    assert len(observed["edge"]) > 30


@pytest.mark.parametrize("kind", ENGINES)
def test_the_scenario_answers_what_it_should(kind, tmp_path):
    with open_store(kind, tmp_path) as store:
        seen = scenario(store)
        counts = [o for o in seen if o[1] == "count"]
        assert [c[2:] for c in counts] == [(25, 8), (23, 6), (18, 6)]
        first_all = next(
            o for o in seen if o[0] == "first" and o[1] == "nearest" and o[2] == {"limit": 100}
        )
        assert len(first_all[3]) == 25 and len({i for i, _ in first_all[3]}) == 25
        scores = [s for _, s in first_all[3]]
        assert scores == sorted(scores, reverse=True)
        empty = next(o for o in seen if o[1] == "nearest" and o[2] == {"video_ids": []})
        assert empty[3] == []
        moved = next(o for o in seen if o[0] == "deleted and moved" and o[1] == "vid-a")
        assert {p for _, _, p in moved[2]} == {"/elsewhere/a.mp4"}
        assert next(o for o in seen if o[0] == "deleted and moved" and o[1] == "vid-c")[2] == []
        assert store.count_shots(MODEL, active_only=False) == 18  # replaced runs deleted
        text = {o[1]: [i for i, _ in o[2]] for o in seen if o[0] == "text"}
        by_index = {s.index: s.shot_id for s in store.shots_of(MODEL, "vid-a")}
        car, bus, dog = by_index[2], by_index[8], by_index[6]
        assert text["red car"][:2] in ([car, bus], [bus, car]) and len(text["red car"]) == 2
        assert text["dog in the kitchen"] == [dog]
        assert text["helicopter"] == []
        hybrid = next(o[1] for o in seen if o[0] == "hybrid")
        nearest = next(o[3] for o in seen if o[:3] == ("deleted and moved", "nearest", {}))
        top = {i for i, _ in hybrid[:3]}
        assert {car, bus} <= {i for i, _ in hybrid} and nearest[0][0] in top  # both rankings


# -- crash safety: a failure after every single store call ------------------------------------


class Killed(BaseException):
    """Stands for the process dying: no except clause of the store catches it as an error."""


_WRITES = ("upsert", "delete", "delete_ids", "set_payload", "set_caption")


class FailAfter:
    """An engine that lets ``n`` writes through, then fails right after the n-th one is done."""

    def __init__(self, engine, n: int) -> None:
        self._engine, self._left = engine, n
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._engine, name)
        if name not in _WRITES:
            return attr

        def write(*args, **kwargs):
            result = attr(*args, **kwargs)
            self.calls.append(name)
            self._left -= 1
            if self._left == 0:
                raise Killed(f"after {name}")
            return result

        return write


def check_consistent(store: ShotStore, expected: dict[str, list[set[str]]]) -> dict[str, str]:
    """Each video shows exactly one of its complete runs, everywhere; returns which run."""
    shown = {}
    records = {r.video_id: r for r in store.list_videos(MODEL)}
    everything = [s for s, _ in store.query(MODEL, vector=np.ones(DIM), limit=1000)]
    assert len({s.shot_id for s in everything}) == len(everything), "duplicates in search"
    for video_id, runs in expected.items():
        record = records[video_id]
        ids = [s.shot_id for s in store.shots_of(MODEL, video_id)]
        assert set(ids) in runs, f"{video_id}: a mixture or an incomplete run is visible"
        assert len(ids) == record.n_shots == store.count_shots(MODEL, video_id)
        assert [s.index for s in store.shots_of(MODEL, video_id)] == list(range(len(ids)))
        found = [
            s.shot_id
            for s, _ in store.query(MODEL, vector=np.ones(DIM), video_ids=[video_id], limit=1000)
        ]
        assert sorted(found) == sorted(ids)
        assert sorted(s.shot_id for s in everything if s.video_id == video_id) == sorted(ids)
        assert set(store.get_shots(MODEL, ids)) == set(ids)
        shown[video_id] = record.run_id
    assert store.count_shots(MODEL) == sum(r.n_shots for r in records.values())
    return shown


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("how", ["error", "kill"])
def test_a_failure_after_any_store_call_leaves_old_or_new_and_the_next_run_repairs(
    kind, how, tmp_path, monkeypatch
):
    monkeypatch.setattr("shotseek.pipeline.store.shots._BATCH", 16)  # two batches of 20 shots
    n = 1
    while True:
        folder = tmp_path / f"{how}-{n}"
        with open_store(kind, folder) as store:
            _, old_a, _ = _write(store, "vid-a", "old", 20, 1)
            _, old_b, _ = _write(store, "vid-b", "b", 7, 2)
            vectors = _vectors(5, 24)
            record, new_a = synthetic_run("vid-a", vectors, run_id="new")
            real = store.engine
            store.engine = FailAfter(real, n)
            if how == "kill":  # a dead process cleans nothing up
                store._discard_unless_current = lambda *a: None  # type: ignore[method-assign]
            try:
                store.write_run(record, new_a, vectors)
            except Killed:
                pass
            else:
                break  # the whole sequence ran: every prefix was checked
            finally:
                store.engine = real
            runs = {
                "vid-a": [{s.shot_id for s in old_a}, {s.shot_id for s in new_a}],
                "vid-b": [{s.shot_id for s in old_b}],
            }
        # reopened, as the next process would find it
        with open_store(kind, folder) as store:
            check_consistent(store, runs)
            store.collect_garbage(MODEL)
            records = store.list_videos(MODEL)
            assert store.count_shots(MODEL, active_only=False) == sum(r.n_shots for r in records)
            # and the next run goes through
            again, again_shots, _ = _write(store, "vid-a", "again", 9, 7)
            runs["vid-a"] = [{s.shot_id for s in again_shots}]
            assert check_consistent(store, runs)["vid-a"] == "again"
            assert store.count_shots(MODEL, active_only=False) == 9 + 7
        n += 1
    assert n >= 5  # two batches, live, record, cleanup


@pytest.mark.parametrize("kind", ENGINES)
@pytest.mark.parametrize("between", ["garbage collection", "another run of the video"])
@pytest.mark.parametrize("writer", ["this process", "another process"])
def test_what_runs_between_a_runs_staging_and_its_switch_leaves_it_whole(
    kind, between, writer, tmp_path
):
    """Two writers (a socket request beside an MCP job; or two machines on one Qdrant server,
    each with a store object of its own): the second one's garbage collection, or its own run's
    clean-up, once deleted the first's staged shots, and its record then named shots that did
    not exist."""
    with open_store(kind, tmp_path) as store:
        other = store if writer == "this process" else ShotStore(store.settings, store.engine)
        _write(store, "vid-a", "old", 5, 1)
        vectors = _vectors(2, 3)
        record, shots = synthetic_run("vid-a", vectors, run_id="new")
        real = store.engine.set_payload
        meanwhile = []

        def staged(*args, **kwargs):  # the first run's shots are staged, not yet switched to
            if not meanwhile:
                meanwhile.append(None)  # once: the other run sets a payload too
                if between == "garbage collection":
                    meanwhile[0] = other.collect_garbage(MODEL)
                else:
                    meanwhile[0] = _write(other, "vid-a", "other", 4, 3)[0].run_id
            return real(*args, **kwargs)

        store.engine.set_payload = staged  # type: ignore[method-assign]
        try:
            store.write_run(record, shots, vectors)
        finally:
            store.engine.set_payload = real  # type: ignore[method-assign]
        assert meanwhile == ([0] if between == "garbage collection" else ["other"])
        assert store.get_video(MODEL, "vid-a").run_id == "new"
        assert [s.shot_id for s in store.shots_of(MODEL, "vid-a")] == [s.shot_id for s in shots]
        assert store.count_shots(MODEL, active_only=False) == 3  # the older runs are gone


@pytest.mark.parametrize("kind", ENGINES)
def test_re_indexing_keeps_the_captions_of_shots_whose_span_did_not_change(kind, tmp_path):
    with open_store(kind, tmp_path) as store:
        _, old, _ = _write(store, "vid-a", "old", 4, 1)  # shots of 2 s: 0-2, 2-4, 4-6, 6-8
        store.set_caption(MODEL, old[0].shot_id, "a red car on a coastal road", caption_model="m")
        store.set_caption(MODEL, old[2].shot_id, "a dog asleep in a kitchen", caption_model="m")
        vectors = _vectors(2, 4)
        record, new = synthetic_run("vid-a", vectors, run_id="new")
        new[2] = new[2].model_copy(update={"end": 5.5})  # this span changed: 4-5.5
        new[3] = new[3].model_copy(update={"start": 5.5})
        store.write_run(record, new, vectors)
        kept = store.captions(MODEL, [s.shot_id for s in new])
        assert kept == {
            new[0].shot_id: {"caption": "a red car on a coastal road", "caption_model": "m"}
        }
        found = store.query(MODEL, text="red car", limit=5)
        assert [s.shot_id for s, _ in found] == [new[0].shot_id]  # searchable by its words


@pytest.mark.parametrize("kind", ENGINES)
def test_a_dead_writer_s_lease_expires_and_its_points_are_collected(kind, tmp_path, monkeypatch):
    from shotseek.pipeline.store import shots as shots_module

    with open_store(kind, tmp_path) as store:
        _write(store, "vid-a", "a1", 3, 1)
        vectors = _vectors(2, 5)
        record, shots = synthetic_run("vid-a", vectors, run_id="killed")
        store.engine.set_payload = lambda *a, **k: (_ for _ in ()).throw(Killed())  # type: ignore[method-assign]
        store._discard_unless_current = lambda *a: None  # type: ignore[method-assign]
        store._release = lambda run_id: None  # type: ignore[method-assign]
        with pytest.raises(Killed):  # killed after staging: its lease and points stay
            store.write_run(record, shots, vectors)
    with open_store(kind, tmp_path) as store:  # the next process
        assert store.count_shots(MODEL, active_only=False) == 8
        assert store.collect_garbage(MODEL) == 0  # the lease is alive: it may be writing
        monkeypatch.setattr(shots_module, "WRITER_LEASE_SECONDS", 0.0)  # ...until it expires
        assert store.collect_garbage(MODEL) == 5
        assert store.count_shots(MODEL, active_only=False) == 3


# -- crash safety: kill -9 of a real writer at random instants --------------------------------

WRITER = """
import random, sys
import numpy as np
from shotseek.pipeline.config import Settings
from shotseek.pipeline.store import ShotStore
from tests.kit.legacy import write_legacy_store
from tests.kit.shots import MODEL, structured_vectors, synthetic_run
rng = np.random.default_rng(int(sys.argv[2]))
with ShotStore(Settings(data_dir=sys.argv[1])) as store:
    store.collect_garbage(MODEL) if MODEL in store.models() else None
    print("ready", flush=True)
    n = 0
    while True:
        for video in ("vid-a", "vid-b", "vid-c"):
            size = int(rng.integers(1, 700))
            vectors = structured_vectors(size, 32, rng, latent=8, clusters=6)
            record, shots = synthetic_run(video, vectors)
            store.write_run(record, shots, vectors)
            n += 1
            print("wrote", n, flush=True)
"""


def test_kill_9_at_random_instants_never_shows_a_mixture(tmp_path):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    rng = random.Random(11)
    writes = 0
    for attempt in range(14):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(attempt)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=root,
        )
        assert proc.stdout.readline().strip() == "ready"
        if attempt == 0:  # let the first one write every video once
            while not proc.stdout.readline().startswith("wrote 3"):
                pass
        else:
            time.sleep(rng.uniform(0.0, 0.8))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        writes += out.count("wrote")
        with ShotStore(Settings(data_dir=tmp_path)) as store:
            records = {r.video_id: r for r in store.list_videos(MODEL)}
            assert set(records) == {"vid-a", "vid-b", "vid-c"}
            for video_id, record in records.items():
                shots = store.shots_of(MODEL, video_id)
                assert len(shots) == record.n_shots
                assert [s.index for s in shots] == list(range(record.n_shots))
                assert len({s.shot_id for s in shots}) == record.n_shots
            hits = store.query(MODEL, vector=np.ones(32), limit=3000)
            assert len(hits) == sum(r.n_shots for r in records.values())
            assert len({s.shot_id for s, _ in hits}) == len(hits)
    assert writes > 14  # the writer got somewhere between kills


# -- the embedded store is one process's ----------------------------------------------------


def test_a_second_opener_gets_a_clear_error(tmp_path):
    with ShotStore(Settings(data_dir=tmp_path)):
        with pytest.raises(StoreUnavailableError, match="in use by another shotseek process"):
            ShotStore(Settings(data_dir=tmp_path))
    ShotStore(Settings(data_dir=tmp_path)).close()  # free again once closed


# -- migration of stores written before Qdrant Edge ------------------------------------------


def legacy_store(data_dir: Path, videos: dict[str, int]) -> dict:
    """An old store of a few videos; returns each video's record, shots and vectors."""
    truth = {}
    for seed, (video_id, n) in enumerate(videos.items()):
        vectors = _vectors(seed, n)
        record, shots = synthetic_run(video_id, vectors, run_id=f"{video_id}-run")
        truth[video_id] = (record, shots, vectors)
    write_legacy_store(data_dir, truth.values(), spec={"model": "x"})
    return truth


def test_an_older_store_is_migrated_on_first_open_without_reembedding(tmp_path):
    truth = legacy_store(tmp_path, {"vid-a": 30, "vid-b": 5, "vid-c": 0})
    with ShotStore(Settings(data_dir=tmp_path)) as store:
        assert store.models()[MODEL].spec == {"model": "x"}
        assert [r.video_id for r in store.list_videos(MODEL)] == ["vid-a", "vid-b", "vid-c"]
        for video_id, (record, shots, vectors) in truth.items():
            assert store.get_video(MODEL, video_id) == record
            assert store.shots_of(MODEL, video_id) == shots
            stored = store.shot_vectors(MODEL, [s.shot_id for s in shots])
            for shot, vector in zip(shots, vectors):
                np.testing.assert_allclose(stored[shot.shot_id], vector, atol=1e-6)
        assert store.count_shots(MODEL, active_only=False) == 35  # not the replaced runs
    assert not (tmp_path / "qdrant").exists() and (tmp_path / "qdrant.migrated").is_dir()


def test_an_interrupted_migration_resumes_and_loses_nothing(tmp_path, monkeypatch):
    truth = legacy_store(tmp_path, {"vid-a": 10, "vid-b": 6, "vid-c": 3})
    real = ShotStore.write_run
    calls = {"n": 0}

    def dies_on_the_second(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed("killed mid-migration")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ShotStore, "write_run", dies_on_the_second)
    with pytest.raises(Killed):
        ShotStore(Settings(data_dir=tmp_path))
    monkeypatch.undo()
    assert (tmp_path / "qdrant").is_dir()  # the old store is untouched until the end

    from shotseek.pipeline.store.edge import EdgeEngine as Edge
    from shotseek.pipeline.store.migrate import migrate_legacy

    engine = Edge(tmp_path / "edge")
    report = migrate_legacy(Settings(data_dir=tmp_path), engine)
    engine.close()
    assert (report.videos_copied, report.videos_already_there, report.shots_copied) == (2, 1, 9)
    with ShotStore(Settings(data_dir=tmp_path)) as store:
        for video_id, (_, shots, _) in truth.items():
            assert store.shots_of(MODEL, video_id) == shots


def test_a_server_collection_of_the_older_layout_is_refused_with_the_fix(tmp_path):
    engine = QdrantEngine(path=str(tmp_path / "server"))
    engine.create(
        shots_collection(MODEL), dim=DIM, metadata={"model_id": MODEL, "dim": DIM}, indexes={}
    )
    with ShotStore(Settings(data_dir=tmp_path), engine=engine) as store:
        with pytest.raises(StoreMismatchError, match="delete the collection .* and re-index"):
            store.models()


def test_shotseek_migrate_moves_the_store_with_progress_and_says_what_it_did(tmp_path):
    from typer.testing import CliRunner

    from shotseek.server.cli import app

    data = Path(os.environ["SHOTSEEK_DATA_DIR"])
    legacy_store(data, {"vid-a": 4, "vid-b": 3})
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["videos_copied"], report["shots_copied"]) == (2, 7)
    assert report["old_store_kept_at"] == str(data / "qdrant.migrated")
    human = runner.invoke(app, ["migrate"])
    assert human.exit_code == 0 and "nothing to migrate" in human.stderr
    with ShotStore(Settings()) as store:
        assert [v.video_id for v in store.list_videos(MODEL)] == ["vid-a", "vid-b"]


# -- the search index is built aside while searches go on -------------------------------------


def _wait_built(store: ShotStore, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while (state := store.index_state(MODEL)).building:
        assert time.monotonic() < deadline, "the index build never finished"
        time.sleep(0.05)
    return state


def test_the_search_index_is_built_aside_while_searches_go_on(tmp_path, monkeypatch):
    import shotseek.pipeline.store.edge as edge

    monkeypatch.setattr(edge, "_BUILD_ASIDE", "import time; time.sleep(1); " + edge._BUILD_ASIDE)
    small = EdgeEngine(tmp_path / "edge", index_threshold_kb=100)  # 32-D: 800 shots
    with ShotStore(Settings(data_dir=tmp_path), engine=small) as store:
        for v in range(3):
            _write(store, f"vid-{v}", f"run-{v}", 1500, v)
        probe = _vectors(9, 1)[0]
        exact = store.query(MODEL, vector=probe, limit=10, exact=True)
        assert store.index_state(MODEL).indexed == 0 and store.index_state(MODEL).build_due
        assert store.build_index(MODEL, background=True)
        assert store.index_state(MODEL).building
        during = store.query(MODEL, vector=probe, limit=10)  # answered while it builds
        state = _wait_built(store)
        assert state.indexed == state.shots == 4500 and not state.build_due
        assert store.query(MODEL, vector=probe, limit=10) == during == exact
        # a write while a build runs makes that build stale: it is dropped, nothing is lost
        assert store.build_index(MODEL, background=True)
        _, late, _ = _write(store, "vid-late", "run-late", 40, 5)
        _wait_built(store)
        assert [s.shot_id for s in store.shots_of(MODEL, "vid-late")] == [s.shot_id for s in late]
        assert store.count_shots(MODEL) == 4540


def test_a_swap_cut_short_by_a_kill_is_undone_on_open(tmp_path):
    with ShotStore(Settings(data_dir=tmp_path)) as store:
        _, shots, _ = _write(store, "vid-a", "r", 30, 1)
    root = tmp_path / "edge"
    live = root / shots_collection(MODEL)
    live.rename(live.with_name(live.name + ".old"))  # killed between the two renames
    (root / (live.name + ".build")).mkdir()  # and a copy half made
    with ShotStore(Settings(data_dir=tmp_path)) as store:
        assert store.shots_of(MODEL, "vid-a") == shots
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == sorted(
        [live.name, videos_collection(MODEL), "shotseek_writers"]
    )


def test_videos_says_when_searches_are_exact_until_the_index_is_built():
    from typer.testing import CliRunner

    from shotseek.server.cli import app

    with ShotStore(Settings()) as store:  # 4,000 768-D shots: past the exact-search threshold
        space = np.random.default_rng(3)
        for v in range(4):
            vectors = structured_vectors(1000, 768, space)
            record, shots = synthetic_run(f"vid-{v}", vectors, run_id=f"run-{v}")
            store.write_run(record, shots, vectors)
    runner = CliRunner()
    before = runner.invoke(app, ["videos"])
    assert before.exit_code == 0, before.output
    assert "0 of 4,000 shots are in the search index (built after the next index run)" in (
        " ".join(before.stderr.split())
    )
    with ShotStore(Settings()) as store:
        store.build_index(MODEL)
    after = runner.invoke(app, ["videos"])
    assert after.exit_code == 0 and "search index" not in after.stderr
