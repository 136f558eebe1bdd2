"""Two writers at once lose nothing: `shotseek index` through a running server's socket beside
MCP index jobs on the same videos, with kill -9s of the command and of the server mid-run, ends
with every video holding exactly its last complete run."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from shotseek.pipeline.config import Settings
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.archive import cli_env
from tests.kit.footage import Scene, make_footage
from tests.kit.servers import free_port, mcp_http, start_http_server

TOKEN = "a-token-for-the-writers-0123456789"


def _wait_for_job(url: str, job_id: str) -> dict:
    for _ in range(600):
        job = mcp_http(url, TOKEN, "index_status", job_id=job_id)
        if job["state"] in ("finished", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not end")


def test_cli_runs_beside_mcp_jobs_with_kill_9s_leave_every_video_its_last_complete_run(tmp_path):
    media = tmp_path / "media"
    scenes = [
        Scene("red", "circle", 2.5),
        Scene("blue", "square", 2.5),
        Scene("green", "star", 2.5),
    ]
    for name in ("a", "b"):
        make_footage(media / f"{name}.mp4", scenes if name == "a" else scenes[::-1])
    data = tmp_path / "data"
    env = cli_env(data, media_roots=str(media), token=TOKEN, decode_processes="1")
    rng = random.Random(7)
    port = free_port()
    server = start_http_server(env, port)
    url = f"http://127.0.0.1:{port}/mcp"
    killed = {"command": 0, "server": 0}
    try:
        for round_ in range(4):
            command = subprocess.Popen(
                [sys.executable, "-m", "shotseek", "index", str(media), "--force", "--json"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            job = mcp_http(url, TOKEN, "index_video", path=str(media), force=True, wait_seconds=0)
            if round_ % 2:  # the command is killed mid-run: the server cancels its job
                time.sleep(rng.uniform(3.0, 8.0))
                command.send_signal(signal.SIGKILL)
                killed["command"] += 1
            command.wait(timeout=600)
            if round_ == 2:  # the server itself is killed mid-run, then started again
                time.sleep(rng.uniform(1.0, 4.0))
                server.send_signal(signal.SIGKILL)
                server.wait(timeout=60)
                killed["server"] += 1
                server = start_http_server(env, port)
                continue
            assert _wait_for_job(url, job["job_id"])["state"] == "finished"
        last = mcp_http(url, TOKEN, "index_video", path=str(media), force=True, wait_seconds=300)
        assert last["state"] == "finished" and last["indexed"] == 2
    finally:
        server.terminate()
        server.wait(timeout=60)
    assert killed == {"command": 2, "server": 1}
    with ShotStore(Settings(data_dir=data, model=TINY_CLIP)) as store:
        (model_id,) = store.models()
        videos = store.list_videos(model_id)
        assert sorted(v.file_name for v in videos) == ["a.mp4", "b.mp4"]
        store.collect_garbage(model_id)  # what the next run does first: leftovers of the kills
        for video in videos:
            shots = store.shots_of(model_id, video.video_id)
            assert len(shots) == video.n_shots > 0  # the record's run, complete and visible
            assert {s.shot_id for s in shots} == {
                s.shot_id for s in store.shots_of(model_id, video.video_id)
            }
            assert store.count_shots(model_id, video.video_id, active_only=False) == video.n_shots
            assert all(s.path == video.path for s in shots)
