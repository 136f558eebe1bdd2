"""The command line beside a running server: the local socket, its protocol, and a real
`shotseek serve` answering `videos`, `structure`, `search`, `refine`, `index`, `eval` and
`caption`."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from shotseek.pipeline.errors import StoreUnavailableError
from shotseek.server.cli import app
from shotseek.server.local import (
    NO_SERVER,
    LocalServer,
    LocalServerError,
    call,
    socket_path,
)
from tests.kit.archive import cli_env
from tests.kit.footage import standard_footage
from tests.kit.ollama_standin import OllamaStandIn


def _call(data_dir, op, request=None, on_progress=None):
    return call(data_dir, op, request or {}, {}, on_progress)


def test_protocol_results_progress_errors_and_no_server(tmp_path):
    def handle(message, progress, cancelled):
        op = message["op"]
        if op == "fail":
            raise LocalServerError("it went wrong: do this")
        if op == "crash":
            raise RuntimeError("a bug")
        for i in range(3):
            progress({"step": i})
        return {"op": op, **message["request"]}

    assert _call(tmp_path, "echo") is NO_SERVER  # nobody listens yet
    server = LocalServer(tmp_path, handle)
    assert server.start()
    try:
        path = socket_path(tmp_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # the owner's alone
        seen = []
        assert _call(tmp_path, "echo", {"a": 1}, seen.append) == {"op": "echo", "a": 1}
        assert seen == [{"step": 0}, {"step": 1}, {"step": 2}]
        with pytest.raises(LocalServerError, match="it went wrong: do this"):
            _call(tmp_path, "fail")
        with pytest.raises(LocalServerError, match="RuntimeError: a bug"):
            _call(tmp_path, "crash")
        assert LocalServer(tmp_path, handle).start() is False  # one server per data dir
    finally:
        server.stop()
    assert not path.exists()


def test_a_long_request_stays_alive_and_a_silent_server_is_given_up_on_in_one_line(
    tmp_path, monkeypatch
):
    """Once, a request longer than the client's 600 s wait (an eval, a VLM rerank) ended in a
    raw TimeoutError traceback while the server worked on for nobody."""
    import socket
    import threading

    from shotseek.server import local

    monkeypatch.setattr(local, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(local, "SILENCE_S", 0.5)
    server = LocalServer(tmp_path, lambda message, progress, cancelled: time.sleep(1.5) or "done")
    assert server.start()
    try:
        assert _call(tmp_path, "slow") == "done"  # three times the silence the client bears
    finally:
        server.stop()
    # a server that takes the connection and then says nothing (stuck)
    mute = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mute.bind(str(socket_path(tmp_path)))
    mute.listen()
    taken = []
    threading.Thread(target=lambda: taken.append(mute.accept()), daemon=True).start()
    try:
        with pytest.raises(LocalServerError, match="sent nothing for 0.5 s.*gave up"):
            _call(tmp_path, "anything")
    finally:
        mute.close()


def test_a_client_that_goes_away_stops_the_work(tmp_path, monkeypatch):
    import socket

    from shotseek.server import local

    monkeypatch.setattr(local, "HEARTBEAT_S", 0.05)
    stopped = []

    def handle(message, progress, cancelled):
        stopped.append(cancelled.wait(20))
        return "nobody reads this"

    server = LocalServer(tmp_path, handle)
    assert server.start()
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(socket_path(tmp_path)))
        client.sendall(json.dumps({"op": "long", "request": {}, "settings": {}}).encode() + b"\n")
        time.sleep(0.2)
        client.close()  # Ctrl-C
        for _ in range(100):
            if stopped:
                break
            time.sleep(0.05)
        assert stopped == [True]
    finally:
        server.stop()


def test_a_socket_left_by_a_killed_server_is_ignored_and_replaced(tmp_path):
    import socket

    path = socket_path(tmp_path)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens: what kill -9 leaves
    assert _call(tmp_path, "echo") is NO_SERVER
    server = LocalServer(tmp_path, lambda message, progress, cancelled: "alive")
    assert server.start()
    try:
        assert _call(tmp_path, "echo") == "alive"
    finally:
        server.stop()


def test_a_long_data_dir_gets_a_socket_in_the_runtime_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = socket_path(deep)
    assert path.parent == tmp_path and len(os.fsencode(path)) <= 100
    assert socket_path(deep) == path  # the client finds what the server made


def test_a_file_someone_else_placed_there_is_not_talked_to(tmp_path):
    path = socket_path(tmp_path)
    path.write_text("not a socket")
    assert _call(tmp_path, "echo") is NO_SERVER
    assert LocalServer(tmp_path, lambda *a: None).start() is False


@pytest.fixture
def running_server(tmp_path):
    """A real `shotseek serve` (stdio, its client idle) on a data dir with one indexed video,
    and a stand-in Ollama it can caption with."""
    media = tmp_path / "media"
    standard_footage(media / "clip.mp4")
    ollama = OllamaStandIn()
    env = cli_env(tmp_path / "data", ollama_url=ollama.start())
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotseek", "serve"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    path = socket_path(tmp_path / "data")
    for _ in range(300):
        if path.exists():
            break
        time.sleep(0.1)
    assert path.exists(), "the server made no socket"
    yield tmp_path, media, env
    proc.stdin.close()  # the chat client goes away: the server ends and removes its socket
    proc.wait(timeout=60)
    ollama.stop()
    assert not path.exists()


def test_the_cli_works_beside_a_running_server(running_server, monkeypatch):
    tmp_path, media, env = running_server
    for key in ("SHOTSEEK_DATA_DIR", "SHOTSEEK_MODEL", "SHOTSEEK_DEVICE"):
        monkeypatch.setenv(key, env[key])
    runner = CliRunner()
    # The command started while the server was still loading: it waits for it.
    result = runner.invoke(app, ["index", str(media), "--json"])
    assert result.exit_code == 0, result.output
    assert [r["status"] for r in json.loads(result.stdout)["results"]] == ["indexed"]

    # The server holds the embedded store: opening it here would fail...
    from shotseek.pipeline.config import Settings
    from shotseek.pipeline.store import ShotStore

    with pytest.raises(StoreUnavailableError):
        ShotStore(Settings())
    # ...and every command goes through the server instead.
    videos = json.loads(runner.invoke(app, ["videos", "--json"]).stdout)
    assert [v["file_name"] for v in videos] == ["clip.mp4"]
    monkeypatch.chdir(media)  # a relative path is resolved here, not in the server's folder
    structure = runner.invoke(app, ["structure", "./clip.mp4", "--json"])
    assert structure.exit_code == 0, structure.output
    assert json.loads(structure.stdout)["video"]["path"] == str(media / "clip.mp4")
    found = runner.invoke(app, ["search", "a green star", "--video", "clip.mp4", "--json"])
    assert found.exit_code == 0, found.output
    first = json.loads(found.stdout)
    assert first["hits"][0]["shot"]["start"] == 17.0
    shot = first["hits"][0]["shot"]["shot_id"]
    refined = runner.invoke(app, ["refine", first["search_id"], "--negative", shot[:8], "--json"])
    assert refined.exit_code == 0, refined.output
    assert json.loads(refined.stdout)["feedback"]["negative"] == [shot]
    # the server writes the export where this command's folder says, not in its own
    refined_id = json.loads(refined.stdout)["search_id"]
    exported = runner.invoke(app, ["export", refined_id, "-f", "edl", "-o", "cuts/sel", "--json"])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["files"] == [str(media / "cuts" / "sel.edl")]
    assert "FCM: NON-DROP FRAME" in (media / "cuts" / "sel.edl").read_text()
    missing = runner.invoke(app, ["structure", "nope.mp4"])
    assert missing.exit_code == 2 and "no indexed video matches 'nope.mp4'" in missing.stderr
    again = runner.invoke(app, ["index", str(media)])
    assert again.exit_code == 0 and "skipped" in again.stdout
    # the command's own settings reach the server (once they were dropped without a word, and
    # the file was "skipped"), and one the server keeps for itself is refused in one line
    monkeypatch.setenv("SHOTSEEK_SHOT_THRESHOLD", "0.3")
    other = runner.invoke(app, ["index", str(media), "--json"])
    assert other.exit_code == 0, other.output
    assert [r["status"] for r in json.loads(other.stdout)["results"]] == ["indexed"]
    monkeypatch.delenv("SHOTSEEK_SHOT_THRESHOLD")
    monkeypatch.setenv("SHOTSEEK_MEDIA_ROOTS", str(tmp_path))
    refused = runner.invoke(app, ["videos"])
    assert refused.exit_code == 2
    assert "keeps its own SHOTSEEK_MEDIA_ROOTS" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    monkeypatch.delenv("SHOTSEEK_MEDIA_ROOTS")
    listed = runner.invoke(app, ["videos"])  # asks the server for the search index's state too
    assert listed.exit_code == 0 and "clip.mp4" in listed.stdout
    log = tmp_path / "log.csv"
    log.write_text("video,start,end,query\nclip.mp4,00:00:17,00:00:22,a green star\n")
    measured = runner.invoke(app, ["eval", str(log), "--json"])
    assert measured.exit_code == 0, measured.output
    assert json.loads(measured.stdout)["runs"][0]["outcomes"][0]["rank"] == 1
    captioned = runner.invoke(app, ["caption", "--video", "clip.mp4", "--json"])
    assert captioned.exit_code == 0, captioned.output
    captions = json.loads(captioned.stdout)["captions"]
    assert captions and all(c["caption"] for c in captions)
