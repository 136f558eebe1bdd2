"""Indexing into the embedded store: round trip, re-index, failures, batches, concurrency."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from shotseek.pipeline.catalog import list_videos, video_structure, writer_settings
from shotseek.pipeline.config import AUTO_MODEL, Settings
from shotseek.pipeline.errors import StoreMismatchError, StoreUnavailableError, VideoOpenError
from shotseek.pipeline.index import index_video
from shotseek.pipeline.models import VideoRecord
from shotseek.pipeline.runners import index_paths
from shotseek.pipeline.store import ShotStore
from shotseek.server.cli import app
from tests.conftest import TINY_CLIP
from tests.kit.footage import Scene, make_footage, standard_footage, vfr_times


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(data_dir=tmp_path / "data", model=TINY_CLIP, device="cpu")


@pytest.fixture
def store(settings):
    with ShotStore(settings) as s:
        yield s


@pytest.fixture(scope="module")
def plain_video(tmp_path_factory):
    return standard_footage(tmp_path_factory.mktemp("idx") / "standard.mp4")


def _index(path, settings, store, tiny_encoder, **kw):
    return index_video(path, settings, store=store, encoder=tiny_encoder, **kw)


def test_round_trip_stores_every_shot_with_its_timecodes(
    plain_video, settings, store, tiny_encoder
):
    events = []
    outcome = _index(plain_video.path, settings, store, tiny_encoder, progress=events.append)
    assert outcome.status == "indexed" and outcome.n_shots >= len(plain_video.segments)
    assert {e.stage for e in events} >= {"probe", "sample", "analyse", "store", "done"}

    [record] = list_videos(store, settings)
    assert record.path == str(plain_video.path) and record.n_shots == outcome.n_shots
    assert record.model_id == tiny_encoder.model_id and record.n_classes == 5
    structure = video_structure(store, settings, "standard.mp4")
    shots = [shot for scene in structure.scenes for shot in scene.shots]
    assert [s.index for s in shots] == list(range(record.n_shots))
    assert shots[0].start == 0.0 and shots[-1].end == pytest.approx(record.duration, abs=0.2)
    for a, b in zip(shots, shots[1:]):
        assert a.end == b.start  # shots tile the video
    for shot in shots:
        assert Path(shot.thumbnail).is_file()
        assert shot.start <= shot.keyframe_time < shot.end
        assert shot.start_tc.count(":") == 2
    assert [c.scenes for c in structure.classes][0] == [0, 4]  # the recurring yellow triangle
    assert store.count_shots(record.model_id) == record.n_shots


def test_variable_frame_rate_timecodes_are_frame_times(tmp_path, settings, store, tiny_encoder):
    times = vfr_times(10.0, seed=3)
    footage = make_footage(
        tmp_path / "vfr.mp4",
        [Scene("red", "square", 5.0), Scene("blue", "star", 5.0)],
        frame_times=times,
    )
    _index(footage.path, settings, store, tiny_encoder)
    structure = video_structure(store, settings, "vfr.mp4")
    starts = [shot.start for scene in structure.scenes for shot in scene.shots]
    exact = {round(t, 3) for t in footage.frame_times}
    assert all(round(s, 3) in exact for s in starts)
    # the cut at 5 s falls in a recording stall: the new scene's first frame is at 6 s
    first_new = min(t for t in footage.frame_times if t >= footage.cuts[0])
    assert first_new == 6.0
    assert min(abs(s - first_new) for s in starts) <= 0.5 + 1e-6


def test_a_second_run_skips_and_force_replaces_without_duplicates(
    plain_video, settings, store, tiny_encoder
):
    first = _index(plain_video.path, settings, store, tiny_encoder)
    model = tiny_encoder.model_id
    old_ids = {s.shot_id for s in store.shots_of(model, first.video_id)}
    assert _index(plain_video.path, settings, store, tiny_encoder).status == "skipped"

    again = _index(plain_video.path, settings, store, tiny_encoder, force=True)
    new_shots = store.shots_of(model, again.video_id)
    assert again.n_shots == first.n_shots == len(new_shots)
    assert store.count_shots(model, active_only=False) == len(new_shots)  # old run deleted
    assert old_ids.isdisjoint({s.shot_id for s in new_shots})
    runs = list((settings.data_dir / "thumbnails" / again.video_id).iterdir())
    assert len(runs) == 1  # the old run's thumbnails are gone


def test_changed_settings_reindex_and_moved_files_are_recognised(
    plain_video, settings, store, tiny_encoder, tmp_path
):
    _index(plain_video.path, settings, store, tiny_encoder)
    finer = settings.merged(fps=1.0)
    assert _index(plain_video.path, finer, store, tiny_encoder).status == "indexed"
    moved = tmp_path / "renamed.mp4"
    shutil.copy(plain_video.path, moved)
    assert _index(moved, finer, store, tiny_encoder).status == "skipped"  # a copy: not twice
    elsewhere = tmp_path / "moved.mp4"
    moved.rename(elsewhere)
    # the original is still in place, so this is a copy too; remove it from the record's view
    record = store.get_video(tiny_encoder.model_id, list_videos(store, finer)[0].video_id)
    store.update_path(tiny_encoder.model_id, record.video_id, str(tmp_path / "gone.mp4"))
    outcome = _index(elsewhere, finer, store, tiny_encoder)
    assert outcome.status == "skipped" and "moved or renamed" in outcome.reason
    [video] = list_videos(store, finer)
    assert video.path == str(elsewhere)
    assert {s.path for s in store.shots_of(video.model_id, video.video_id)} == {str(elsewhere)}


def test_an_index_run_ends_with_the_search_index_built(plain_video, settings, tiny_encoder):
    from shotseek.pipeline.store.edge import EdgeEngine

    engine = EdgeEngine(settings.store_path, index_threshold_kb=1)  # a graph for a few shots
    with ShotStore(settings, engine=engine) as store:
        events = []
        index_paths(
            [plain_video.path], settings, store=store, encoder=tiny_encoder, progress=events.append
        )
        assert events[-1].stage == "search index" and events[-1].path == store.location
        state = store.index_state(tiny_encoder.model_id)
        assert state.indexed == state.shots > 0 and not state.build_due
        events.clear()  # nothing new: nothing to build, nothing said
        index_paths(
            [plain_video.path], settings, store=store, encoder=tiny_encoder, progress=events.append
        )
        assert "search index" not in {e.stage for e in events}


def test_a_failure_mid_run_leaves_the_previous_shots(
    plain_video, settings, store, tiny_encoder, monkeypatch
):
    first = _index(plain_video.path, settings, store, tiny_encoder)
    model = tiny_encoder.model_id
    before = [(s.shot_id, s.start, s.end) for s in store.shots_of(model, first.video_id)]
    record_before = store.get_video(model, first.video_id)

    real_upsert = store.engine.upsert
    calls = {"n": 0}

    def failing_upsert(collection, points):
        calls["n"] += 1
        if calls["n"] == 2:  # the shots went in; the video record write fails
            raise OSError("disk full")
        return real_upsert(collection, points)

    monkeypatch.setattr(store.engine, "upsert", failing_upsert)
    with pytest.raises(OSError, match="disk full"):
        _index(plain_video.path, settings, store, tiny_encoder, force=True)
    monkeypatch.setattr(store.engine, "upsert", real_upsert)

    after = [(s.shot_id, s.start, s.end) for s in store.shots_of(model, first.video_id)]
    assert after == before
    assert store.get_video(model, first.video_id) == record_before
    assert store.count_shots(model, active_only=False) == len(before)  # no leftovers
    for shot in store.shots_of(model, first.video_id):
        assert Path(shot.thumbnail).is_file()
    runs = list((settings.data_dir / "thumbnails" / first.video_id).iterdir())
    assert len(runs) == 1


def test_points_left_by_a_killed_run_are_invisible_and_collected(
    plain_video, settings, store, tiny_encoder, monkeypatch
):
    first = _index(plain_video.path, settings, store, tiny_encoder)
    model = tiny_encoder.model_id
    real_upsert = store.engine.upsert

    def dying_upsert(collection, points):
        if collection.startswith("videos_"):
            raise KeyboardInterrupt  # killed between the shots and the record
        return real_upsert(collection, points)

    monkeypatch.setattr(store.engine, "upsert", dying_upsert)
    monkeypatch.setattr(
        store, "_discard_unless_current", lambda *a: None
    )  # as if the process died right away
    with pytest.raises(KeyboardInterrupt):
        _index(plain_video.path, settings, store, tiny_encoder, force=True)
    monkeypatch.undo()
    assert len(store.shots_of(model, first.video_id)) == first.n_shots
    assert store.count_shots(model, active_only=False) == 2 * first.n_shots
    # searches see only the current run, with or without filters
    probe = np.ones(tiny_encoder.dim, dtype=np.float32)
    for limit in (1, 3, 50):
        for scope in ({}, {"video_ids": [first.video_id]}):
            found = store.query(model, vector=probe, limit=limit, **scope)
            ids = [shot.shot_id for shot, _ in found]
            assert len(ids) == len(set(ids)) == min(limit, first.n_shots)
            assert set(ids) <= {s.shot_id for s in store.shots_of(model, first.video_id)}
    assert store.collect_garbage(model) == first.n_shots
    assert store.count_shots(model, active_only=False) == first.n_shots


def test_a_broken_file_in_a_batch_is_reported_and_the_others_indexed(
    plain_video, settings, store, tiny_encoder, tmp_path
):
    folder = tmp_path / "batch"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(plain_video.path, folder / "sub" / "good.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00" * 1000)
    (folder / "empty.mov").write_bytes(b"")
    (folder / "notes.txt").write_text("not a video, not picked up")
    report = index_paths(
        [folder, tmp_path / "missing.mp4"], settings, store=store, encoder=tiny_encoder
    )
    status = {Path(r.path).name: (r.status, r.reason) for r in report.results}
    assert set(status) == {"good.mp4", "broken.mp4", "empty.mov", "missing.mp4"}
    assert status["good.mp4"][0] == "indexed"
    assert "not a video" in status["broken.mp4"][1]
    assert "empty" in status["empty.mov"][1]
    assert "no such file" in status["missing.mp4"][1]
    assert [v.file_name for v in list_videos(store, settings)] == ["good.mp4"]


def test_a_video_that_fails_validation_stores_nothing(settings, store, tiny_encoder, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    with pytest.raises(VideoOpenError):
        _index(bad, settings, store, tiny_encoder)
    assert store.models() == {}


def test_collections_are_per_model_and_checked(plain_video, settings, store, tiny_encoder):
    _index(plain_video.path, settings, store, tiny_encoder)
    with pytest.raises(StoreMismatchError):
        store.ensure_collections(tiny_encoder.model_id, 512)  # wrong dimension
    other = "ViT-B-32/none"
    store.ensure_collections(other, 512)
    # every model's videos are listed, each with its model, whatever model is configured
    default = Settings(data_dir=settings.data_dir)
    assert [v.model_id for v in list_videos(store, default)] == [tiny_encoder.model_id]
    with pytest.raises(StoreMismatchError) as info:
        list_videos(store, default, every_model=False)  # the default model: not here
    assert tiny_encoder.model_id in str(info.value) and other in str(info.value)
    assert list_videos(store, settings, every_model=False)[0].model_id == tiny_encoder.model_id
    assert video_structure(store, default, "standard.mp4").video.model_id == tiny_encoder.model_id


def test_model_auto_keeps_adding_to_the_store_s_own_model(plain_video, settings, store, tmp_path):
    # Indexed with a named model; a later run with the default ('auto') must not start a second
    # embedding space (on this CPU machine that would be MobileCLIP2-S2): it uses the store's.
    first = index_paths([plain_video.path], settings, store=store)
    assert first.results[0].status == "indexed"
    models = list(store.models())
    auto = Settings(data_dir=settings.data_dir, device="cpu")
    assert auto.model == AUTO_MODEL
    assert writer_settings(store, auto).model == TINY_CLIP
    copy = tmp_path / "copy.mp4"
    shutil.copy(plain_video.path, copy)
    copy.write_bytes(copy.read_bytes() + b"\0")  # another file: another video id
    second = index_paths([copy], auto, store=store)
    assert second.results[0].status == "indexed", second
    assert list(store.models()) == models and len(list_videos(store, auto)) == 2
    # an empty store, or one with several models, gets the device's default
    with ShotStore(Settings(data_dir=tmp_path / "empty")) as empty:
        assert writer_settings(empty, auto) is auto


def test_a_second_process_on_the_embedded_store_is_told_to_use_a_server(settings, store):
    env = {**os.environ, "SHOTSEEK_DATA_DIR": str(settings.data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "shotseek", "videos"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "another shotseek process" in proc.stderr and "SHOTSEEK_QDRANT_URL" in proc.stderr


def test_store_unavailable_error_names_the_server(tmp_path):
    with pytest.raises(StoreUnavailableError, match="127.0.0.1:9"):
        ShotStore(Settings(data_dir=tmp_path, qdrant_url="http://127.0.0.1:9"))


def test_cli_index_videos_structure_json(plain_video, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    broken = tmp_path / "broken.mp4"
    broken.write_text("x")
    runner = CliRunner()
    result = runner.invoke(app, ["index", str(plain_video.path), str(broken), "--json"])
    assert result.exit_code == 1  # one file failed
    report = json.loads(result.stdout)
    assert [r["status"] for r in report["results"]] == ["indexed", "failed"]

    result = runner.invoke(app, ["videos", "--json"])
    [video] = json.loads(result.stdout)
    VideoRecord.model_validate(video)

    for ref in (video["video_id"], video["video_id"][:8], str(plain_video.path), "standard.mp4"):
        result = runner.invoke(app, ["structure", ref, "--json"])
        assert result.exit_code == 0, result.output
        structure = json.loads(result.stdout)
        shot = structure["scenes"][0]["shots"][0]
        assert {"start", "end", "start_tc", "end_tc", "shot_id"} <= set(shot)
    result = runner.invoke(app, ["structure", "nope.mp4"])
    assert result.exit_code == 2
    assert "no indexed video matches 'nope.mp4'" in result.stderr
    assert "Traceback" not in result.output

    # without --json the progress shows how fast sampling goes, and keeps it once done
    result = runner.invoke(app, ["index", str(plain_video.path), "--force"])
    assert result.exit_code == 0, result.output
    assert re.search(r"done \([\d.]+ frames/s, [\d.]+ video-s/s\)", result.stderr), result.stderr


def test_thumbnails_show_the_shot(plain_video, settings, store, tiny_encoder):
    from PIL import Image

    _index(plain_video.path, settings, store, tiny_encoder)
    structure = video_structure(store, settings, "standard.mp4")
    shot = structure.scenes[1].shots[0]  # the blue circle on a light background
    pixels = np.asarray(Image.open(shot.thumbnail).convert("RGB")).astype(int)
    blue = (pixels[..., 2] > 150) & (pixels[..., 0] < 100)
    assert blue.mean() > 0.02


def test_thumbnails_read_by_several_readers_keep_their_order(plain_video, settings, monkeypatch):
    from shotseek.pipeline import thumbnails
    from shotseek.pipeline.video import frames_at

    monkeypatch.setattr(os, "cpu_count", lambda: 3)  # three readers, whatever this machine has
    times = [0.5, 7.0, 13.0, 19.0, 24.0, 29.0, 31.0]  # one per scene, colours differ
    paths = thumbnails.write_thumbnails(settings, plain_video.path, "v", "run", times)
    singles = [
        frames_at(plain_video.path, [t], thumbnail_width=settings.thumbnail_width)[0] for t in times
    ]
    assert [Path(p).read_bytes() for p in paths] == [thumbnails.jpeg(f) for f in singles]


def _shots(store, settings, name):
    return [shot for scene in video_structure(store, settings, name).scenes for shot in scene.shots]


def _assert_thumbnails_are_read_back_ones(settings, video, shots):
    """Each stored thumbnail is byte-equal to its keyframe read back from the video now."""
    from shotseek.pipeline import thumbnails

    fresh = thumbnails.write_thumbnails(
        settings, video, "v", "fresh", [shot.keyframe_time for shot in shots]
    )
    assert [Path(shot.thumbnail).read_bytes() for shot in shots] == [
        Path(path).read_bytes() for path in fresh
    ]


def test_keyframe_thumbnails_kept_while_decoding_are_the_frames_read_back(
    footage_dir, settings, store, tiny_encoder, monkeypatch
):
    # x264 puts a keyframe at each cut and few others: a shot's keyframe over a second after
    # one comes from the decoding pass, not from a second decoding.
    from shotseek.pipeline import thumbnails

    footage = standard_footage(footage_dir / "kept-thumbnails.mp4")
    read_back: list[float] = []
    frames_at = thumbnails.frames_at

    def counted(path, times, **kwargs):
        read_back.extend(times)
        return frames_at(path, times, **kwargs)

    monkeypatch.setattr(thumbnails, "frames_at", counted)
    _index(footage.path, settings, store, tiny_encoder)
    shots = _shots(store, settings, "kept-thumbnails.mp4")
    assert len(read_back) < len(shots)
    _assert_thumbnails_are_read_back_ones(settings, footage.path, shots)


def test_a_disk_that_refuses_kept_thumbnails_only_sends_them_back_to_the_video(
    plain_video, settings, store, tiny_encoder, monkeypatch, caplog
):
    import tempfile

    from shotseek.pipeline import thumbnails

    make_file = tempfile.TemporaryFile
    writes = []

    class FillingUp:  # takes three thumbnails, then part of a fourth: the disk is full
        def __init__(self, **kwargs):
            self._file = make_file(**kwargs)

        def __getattr__(self, name):
            return getattr(self._file, name)

        def write(self, data):
            writes.append(len(data))
            return self._file.write(data if len(writes) < 4 else data[:10])

    monkeypatch.setattr(thumbnails.tempfile, "TemporaryFile", FillingUp)
    outcome = _index(plain_video.path, settings, store, tiny_encoder)
    assert outcome.status == "indexed"
    assert "the disk took part of a thumbnail" in caplog.text
    assert len(writes) == 4  # the first refusal stops the keeping
    shots = _shots(store, settings, plain_video.path.name)
    _assert_thumbnails_are_read_back_ones(settings, plain_video.path, shots)


def test_a_file_that_fails_while_decoding_leaves_no_kept_thumbnails_open(
    footage_dir, settings, store, tiny_encoder
):
    import psutil

    broken = make_footage(
        footage_dir / "broken-kept.mp4", [Scene("cyan", "star", 8.0)], faststart=True
    )
    data = broken.path.read_bytes()
    broken.path.write_bytes(data[: len(data) * 2 // 3])
    process = psutil.Process()
    before = process.num_fds()
    with pytest.raises(VideoOpenError) as caught:
        _index(broken.path, settings, store, tiny_encoder)
    assert "truncated" in str(caught.value) or "corrupt" in str(caught.value)
    assert process.num_fds() == before  # closed, not left to the traceback's collection
    assert not any((settings.data_dir / "thumbnails").rglob("*.jpg"))


def test_frames_are_decoded_at_the_model_s_input_size_with_the_same_vectors(tmp_path):
    # Decoding straight to the model's input size (area scaling while colour-converting) spares
    # the model's preprocessing a resize; the vectors stay those of open_clip's own transform.
    from shotseek.pipeline.encoder import create_encoder
    from shotseek.pipeline.sampling import sample_side
    from shotseek.pipeline.video import sample_frames

    footage = standard_footage(tmp_path / "wide.mp4", size=(640, 360))
    encoder = create_encoder("ViT-B-32", "none", device="cpu")
    settings = Settings(data_dir=tmp_path / "data")
    side = sample_side(settings, encoder)
    assert side == encoder.image_size == 224
    assert sample_side(settings.merged(frame_short_side=300), encoder) == 300
    small = [f.image for f in sample_frames(footage.path, 0.5, short_side=side)]
    full = [f.image for f in sample_frames(footage.path, 0.5, short_side=0)]
    assert min(f.shape[0] for f in small) == 224 and full[0].shape[:2] == (360, 640)
    cosines = (encoder.encode_images(small) * encoder.encode_images(full)).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_decoding_on_its_own_thread_gives_the_same_shots(
    plain_video, settings, tiny_encoder, monkeypatch, tmp_path
):
    # On a GPU, decoding runs ahead on a thread of its own (FFmpeg a few frames further ahead
    # on another) while the model runs on the indexing thread; on a CPU (this machine) the
    # indexing thread decodes, FFmpeg included, while the encoder's workers run the model.
    # Both give the same shots.
    from shotseek.pipeline.encoder import ClipEncoder

    shapes = {}
    for overlap in (False, True):
        frees = property(lambda self, free=not overlap: free)
        monkeypatch.setattr(ClipEncoder, "frees_the_caller", frees)
        data = Settings(data_dir=tmp_path / f"data-{overlap}", model=TINY_CLIP, device="cpu")
        with ShotStore(data) as store:
            outcome = _index(plain_video.path, data, store, tiny_encoder)
            shots = store.shots_of(tiny_encoder.model_id, outcome.video_id)
            shapes[overlap] = [(s.start, s.end, s.scene, s.class_index) for s in shots]
    assert shapes[True] == shapes[False] and len(shapes[True]) > 3


def test_ffmpeg_decodes_on_the_sampler_s_thread_alone_where_the_model_s_workers_fill_the_cores(
    plain_video, tiny_encoder, monkeypatch, tmp_path
):
    # On a CPU the model's workers take every core: FFmpeg gets one thread, and it decodes on
    # the sampler's own thread (no decoding-ahead thread to hand every frame over to); on a
    # GPU FFmpeg chooses and decodes DECODE_AHEAD_FRAMES ahead; a thread setting wins.
    from shotseek.pipeline import sampling
    from shotseek.pipeline.config import DECODE_AHEAD_FRAMES
    from shotseek.pipeline.encoder import ClipEncoder

    seen: list[tuple[int, int]] = []

    class Spy(sampling.FrameSampler):
        def __init__(self, *args, threads: int = 0, ahead: int = -1, **kwargs):
            seen.append((threads, ahead))
            super().__init__(*args, threads=threads, ahead=ahead, **kwargs)

    monkeypatch.setattr(sampling, "FrameSampler", Spy)
    cases = ((True, 0, (1, 0)), (False, 0, (0, DECODE_AHEAD_FRAMES)), (True, 3, (3, 0)))
    for frees, setting, expected in cases:
        monkeypatch.setattr(ClipEncoder, "frees_the_caller", property(lambda self, f=frees: f))
        data = Settings(
            data_dir=tmp_path / f"data-{frees}-{setting}",
            model=TINY_CLIP,
            device="cpu",
            decode_threads=setting,
        )
        with ShotStore(data) as store:
            outcome = _index(plain_video.path, data, store, tiny_encoder)
        assert outcome.n_shots > 3 and seen[-1] == expected, (frees, setting, seen)
    # several files decoding at once beside a GPU share the cores; on a CPU the rule stays
    at_once = sampling.Decoding.for_model(Settings(), False, files_at_once=4)
    assert at_once == sampling.Decoding(max(1, (os.cpu_count() or 1) // 4), DECODE_AHEAD_FRAMES)
    assert sampling.Decoding.for_model(Settings(), True, files_at_once=4) == (
        sampling.Decoding(1, 0)
    )
