"""The operations layer and the job queue under it: jobs in turn, "queued", cancelled (queued
or mid-run, the store as it was), a video forgotten with its thumbnails and captions."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from shotseek.ops.archive import Archive, Call
from shotseek.ops.operations import OPERATIONS
from shotseek.ops.requests import SPECS, ForgetRequest, IndexRequest, JobRequest
from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import OperationCancelled, VideoNotFoundError
from shotseek.pipeline.jobs import IndexJobs
from shotseek.pipeline.models import IndexOutcome, IndexReport, ProgressEvent
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.footage import standard_footage


def _until(check, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_every_operation_is_declared_once_with_its_function():
    assert sorted(OPERATIONS) == sorted(SPECS)
    for name, operation in OPERATIONS.items():
        assert operation.spec is SPECS[name]
        assert operation.spec.request.model_config.get("extra") == "forbid"


def test_jobs_run_in_turn_say_queued_and_can_be_cancelled(tmp_path, monkeypatch):
    from shotseek.pipeline import jobs as jobs_module
    from shotseek.pipeline import runners as runners_module

    release, order = threading.Event(), []

    def fake_index_paths(files, settings, *, progress, on_result, **_):
        order.append(Path(files[0]).name)
        for i in range(3000):
            progress(
                ProgressEvent(path=files[0], file_number=1, file_count=1, stage="sample", done=i)
            )
            if release.wait(0.01):
                break
        on_result(IndexOutcome(path=files[0], status="indexed"))
        return IndexReport(results=[])

    monkeypatch.setattr(runners_module, "index_paths", fake_index_paths)
    monkeypatch.setattr(jobs_module, "writer_settings", lambda store, settings: settings)
    for name in "abcd":
        (tmp_path / f"{name}.mp4").touch()
    jobs = IndexJobs(store=None, encoder=lambda settings: None)
    a, b, c, d = (jobs.start([str(tmp_path / f"{n}.mp4")], Settings()) for n in "abcd")
    _until(lambda: jobs.get(a.job_id).state == "running" and jobs.get(a.job_id).current)
    assert [jobs.get(j.job_id).state for j in (b, c, d)] == ["queued"] * 3
    assert jobs.cancel(c.job_id).state == "cancelled"  # never starts
    jobs.cancel(a.job_id)  # stops at its next progress event
    _until(lambda: jobs.get(a.job_id).state == "cancelled")
    _until(lambda: jobs.get(b.job_id).state == "running")
    release.set()
    _until(lambda: jobs.get(d.job_id).state == "finished")
    assert order == ["a.mp4", "b.mp4", "d.mp4"]  # first come, first served; c never ran
    assert jobs.get(a.job_id).counts.indexed == 0 and jobs.get(b.job_id).counts.indexed == 1
    jobs.close()


def _encoder(settings: Settings):
    from shotseek.pipeline.encoder import get_encoder

    return get_encoder(settings)


@pytest.fixture
def archive(tmp_path):
    media = tmp_path / "media"
    standard_footage(media / "clip.mp4")
    settings = Settings(data_dir=tmp_path / "data", model=TINY_CLIP, device="cpu")
    store = ShotStore(settings)
    jobs = IndexJobs(
        store, lambda s: __import__("shotseek.pipeline.encoder").pipeline.encoder.get_encoder(s)
    )
    yield Archive(settings, store, jobs), media
    jobs.close()
    store.close()


def test_a_run_cancelled_mid_video_leaves_the_old_complete_set(archive):
    archive, media = archive
    first = OPERATIONS["index"](archive, IndexRequest(paths=[str(media)]))
    assert [r.status for r in first.results] == ["indexed"]
    (model_id,) = archive.store.models()
    (video,) = archive.store.list_videos(model_id)
    before = [s.shot_id for s in archive.store.shots_of(model_id, video.video_id)]

    call = Call()

    def cancel_midway(event) -> None:
        if event.stage == "sample" and event.samples >= 4:
            call.cancelled.set()  # the caller goes away (a closed socket, Ctrl-C)

    call.progress = cancel_midway
    with pytest.raises(OperationCancelled):
        OPERATIONS["index"](archive, IndexRequest(paths=[str(media)], force=True), call)
    jobs = archive.jobs
    assert jobs is not None
    (job,) = [j for j in jobs._jobs.values() if j.force]
    assert job.state == "cancelled"
    assert [s.shot_id for s in archive.store.shots_of(model_id, video.video_id)] == before
    assert archive.store.count_shots(model_id, active_only=False) >= len(before)


def test_a_forgotten_video_loses_its_shots_thumbnails_and_captions(archive):
    archive, media = archive
    OPERATIONS["index"](archive, IndexRequest(paths=[str(media)]))
    (model_id,) = archive.store.models()
    (video,) = archive.store.list_videos(model_id)
    shots = archive.store.shots_of(model_id, video.video_id)
    archive.store.set_caption(model_id, shots[0].shot_id, "a caption to lose")
    thumbs = [Path(s.thumbnail) for s in shots]
    assert all(p.is_file() for p in thumbs)
    gone = OPERATIONS["forget_video"](archive, ForgetRequest(video="clip.mp4"))
    assert [v.video_id for v in gone.videos] == [video.video_id] and gone.shots == len(shots)
    assert archive.store.list_videos(model_id) == []
    assert archive.store.count_shots(model_id, active_only=False) == 0
    assert not any(p.exists() for p in thumbs)
    with pytest.raises(VideoNotFoundError, match="clip.mp4"):
        OPERATIONS["forget_video"](archive, ForgetRequest(video="clip.mp4"))
    with pytest.raises(Exception, match="no index job"):
        OPERATIONS["cancel_index"](archive, JobRequest(job_id="nope"))
