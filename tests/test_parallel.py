"""Several files decoded at once in worker processes (pipeline/parallel.py), one model here:
the same archive as one file at a time, a broken file or a killed worker reported by name
while the others land, and no worker left behind when the indexing process is killed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from shotseek.pipeline.config import Settings
from shotseek.pipeline.models import IndexReport
from shotseek.pipeline.runners import index_paths
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.archive import archive_of, assert_same_archive, cli_env, run_cli
from tests.kit.footage import files_that_break, random_footage, standard_footage


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("parallel-media")
    standard_footage(root / "a_standard.mp4")
    random_footage(root / "b_random.mp4", seed=5)
    random_footage(root / "c_random.mp4", seed=6)
    # the first probes fine and fails while it is decoded (in a worker)
    files_that_break(root / "d_truncated.mp4", root / "e_not_a_video.mp4")
    return root


def _index(paths, data: Path, processes: int, progress=None) -> tuple[IndexReport, Settings]:
    settings = Settings(data_dir=data, model=TINY_CLIP, device="cpu", decode_processes=processes)
    with ShotStore(settings) as store:
        report = index_paths(paths, settings, store=store, progress=progress)
    return report, settings


def _status(report: IndexReport) -> dict[str, str]:
    return {Path(r.path).name: r.status for r in report.results}


#: Set while indexing: the docker-compose set-up the README recommends for teams. Settings once
#: crossed to the workers as model_dump_json(), which masks it; re-validated there it failed
#: and every file was reported as a crashed decoding process.
TOKEN, API_KEY = "a-token-of-the-http-server-0123", "a-qdrant-api-key-4567"


def test_files_decoded_in_processes_give_the_archive_of_one_at_a_time(media, tmp_path, monkeypatch):
    from shotseek.pipeline import parallel

    monkeypatch.setenv("SHOTSEEK_TOKEN", TOKEN)

    started = []
    original = parallel._Workers.start

    def counted(self):
        started.append(self)
        return original(self)

    monkeypatch.setattr(parallel._Workers, "start", counted)
    events = []
    there, there_settings = _index([media], tmp_path / "processes", 2, events.append)
    assert len(started) == 2  # two workers, not one per file
    # a second run skips what is indexed: one worker, for the one file that failed in one
    again, _ = _index([media], tmp_path / "processes", 2)
    assert len(started) == 3
    assert {r.status for r in again.results if r.status != "failed"} == {"skipped"}
    here, here_settings = _index([media], tmp_path / "here", 1)
    expected = {
        "a_standard.mp4": "indexed",
        "b_random.mp4": "indexed",
        "c_random.mp4": "indexed",
        "d_truncated.mp4": "failed",
        "e_not_a_video.mp4": "failed",
    }
    assert _status(there) == _status(here) == expected
    assert [r.path for r in there.results] == [r.path for r in here.results]  # the files' order
    for mine, theirs in zip(here.results, there.results, strict=True):
        assert mine.reason == theirs.reason  # the truncated file's error, word for word
    assert {e.stage for e in events} >= {"probe", "sample", "store", "done", "failed"}
    assert_same_archive(archive_of(here_settings), archive_of(there_settings))


def test_a_worker_killed_mid_file_fails_that_file_alone(media, tmp_path):
    # two files long enough (over 150 samples) that neither worker can be done with its own
    # when the first batch comes back: a worker runs at most a few chunks ahead of the parent
    long_ones = [
        random_footage(tmp_path / f"{name}.mp4", seed=seed, occurrences=24).path
        for name, seed in (("a_long", 11), ("b_long", 12))
    ]
    files = [*long_ones, media / "c_random.mp4"]
    killed: list[int] = []

    def kill_the_workers(event) -> None:
        # At the first sample embedded, both workers hold a file (and cannot finish it while
        # this callback holds up the parent): kill -9 them both.
        if killed or event.stage != "sample" or event.samples < 1:
            return
        for child in psutil.Process().children():
            if "spawn_main" in " ".join(child.cmdline()):
                child.send_signal(signal.SIGKILL)
                killed.append(child.pid)

    report, settings = _index(files, tmp_path / "data", 2, kill_the_workers)
    assert len(killed) == 2
    status = _status(report)
    assert status["c_random.mp4"] == "indexed"  # a new worker took the file left
    lost = [r for r in report.results if r.status == "failed"]
    assert {Path(r.path).name for r in lost} == {"a_long.mp4", "b_long.mp4"}
    for r in lost:
        assert Path(r.path).name in r.reason
        assert "killed by signal 9" in r.reason and "index it again" in r.reason
    assert sorted(archive_of(settings)) == ["c_random.mp4"]  # nothing half-stored
    # and indexing again stores them
    again, _ = _index(files, tmp_path / "data", 2)
    assert _status(again) == {
        "a_long.mp4": "indexed",
        "b_long.mp4": "indexed",
        "c_random.mp4": "skipped",
    }


def test_killing_the_indexing_process_leaves_no_worker_behind(media, tmp_path):
    env = cli_env(tmp_path / "data", decode_processes="2")
    run = subprocess.Popen(
        [sys.executable, "-m", "shotseek", "index", str(media), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    parent = psutil.Process(run.pid)
    workers: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
        workers = [c for c in parent.children() if "spawn_main" in _cmdline(c)]
        time.sleep(0.05)
    assert len(workers) == 2, "the run never started its two workers"
    run.send_signal(signal.SIGKILL)  # kill -9 mid-run
    run.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, f"workers left running: {alive}"


def _cmdline(process: psutil.Process) -> str:
    """Its command line; empty for a child that has just ended (a zombie has none to read)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def test_cli_index_keeps_stdout_for_json_while_workers_decode(media, tmp_path):
    # two files: by default on a CPU, two worker processes decode them; nothing they (or the
    # libraries they load) print may reach stdout, which holds the report alone
    files = [str(media / "a_standard.mp4"), str(media / "b_random.mp4")]
    done = run_cli("index", *files, "--json", env=cli_env(tmp_path / "data"))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)  # nothing but the report on stdout
    assert [r["status"] for r in report["results"]] == ["indexed", "indexed"]


def test_no_secret_reaches_a_decoding_process(tmp_path, monkeypatch):
    from shotseek.pipeline import parallel
    from shotseek.pipeline.config import WorkerSettings
    from shotseek.pipeline.sampling import Decoding

    monkeypatch.setenv("SHOTSEEK_TOKEN", f"  {TOKEN}\n")
    monkeypatch.setenv("SHOTSEEK_QDRANT_API_KEY", API_KEY)
    monkeypatch.setenv("SHOTSEEK_QDRANT_URL", "http://user:password@qdrant.invalid:6333")
    settings = Settings(data_dir=tmp_path, model=TINY_CLIP, device="cpu", fps=1.5)
    assert settings.token is not None and settings.token.get_secret_value() == TOKEN
    sent = parallel._Workers(settings, 224, Decoding.for_model(settings, True))._args
    text = json.dumps(sent, default=repr)
    for secret in (TOKEN, API_KEY, "password", "*****"):
        assert secret not in text
    there = WorkerSettings.model_validate_json(sent[0]).settings()
    assert there.token is None and there.qdrant_api_key is None and there.qdrant_url is None
    assert there.fps == 1.5 and there.model == TINY_CLIP and there.data_dir == tmp_path
