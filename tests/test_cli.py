"""The command line: JSON on stdout only, clear errors on stderr, exit codes that tell."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from shotseek.server.cli import app
from tests.conftest import TINY_CLIP

runner = CliRunner()


def test_probe_json_lists_each_video(standard_video):
    result = runner.invoke(app, ["probe", str(standard_video.path), "--json"])
    assert result.exit_code == 0, result.output
    [info] = json.loads(result.stdout)
    assert info["path"] == str(standard_video.path)
    assert info["duration"] == pytest.approx(standard_video.duration, abs=0.15)
    assert info["duration_tc"].startswith("00:00:3")


def test_probe_reports_a_broken_file_and_still_checks_the_others(standard_video, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    result = runner.invoke(app, ["probe", str(broken), str(standard_video.path), "--json"])
    assert result.exit_code == 1
    assert [i["path"] for i in json.loads(result.stdout)] == [str(standard_video.path)]
    assert "broken.mp4" in result.stderr and "not a video" in result.stderr


def test_sample_json_gives_seconds_and_timecodes(standard_video, tmp_path):
    result = runner.invoke(
        app, ["sample", str(standard_video.path), "--fps", "1", "--json", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == pytest.approx(standard_video.duration, abs=1)
    assert rows[3]["time"] == pytest.approx(3.0) and rows[3]["timecode"] == "00:00:03.000"
    assert len(list(tmp_path.glob("*.jpg"))) == len(rows)


def test_environment_settings_reach_the_cli(monkeypatch):
    monkeypatch.setenv("SHOTSEEK_FPS", "1.25")
    result = runner.invoke(app, ["config", "--json"])
    assert json.loads(result.stdout)["fps"] == 1.25


def test_check_model_loads_the_tiny_fixture():
    result = runner.invoke(app, ["check-model", "--model", TINY_CLIP, "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["dim"] == 64 and info["model_id"].startswith("local-dir:tiny_clip/")


def test_user_errors_are_one_line_and_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "shotseek", "check-model", "--model", "ViT-L-15", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "unknown open_clip model 'ViT-L-15'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_invalid_setting_values_are_named():
    proc = subprocess.run(
        [sys.executable, "-m", "shotseek", "sample", "x.mp4", "--fps", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "fps" in proc.stderr and "Traceback" not in proc.stderr


def test_random_weights_are_announced_on_stderr(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "shotseek",
            "check-model",
            "--model",
            "ViT-B-32",
            "--pretrained",
            "none",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SHOTSEEK_DATA_DIR": str(tmp_path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model_id"] == "ViT-B-32/none"
    assert "RANDOM weights" in proc.stderr


def test_probe_searches_folders_and_names_an_empty_one(standard_video, tmp_path):
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["probe", str(standard_video.path.parent), "--json"])
    assert result.exit_code == 0, result.output
    assert str(standard_video.path) in [v["path"] for v in json.loads(result.stdout)]
    result = runner.invoke(app, ["probe", str(tmp_path / "empty")])
    assert result.exit_code == 1 and result.stdout == ""  # no empty table
    assert "no video files in this folder" in result.stderr


def _help_texts() -> list[str]:
    texts = [runner.invoke(app, ["--help"]).stdout]
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        texts.append(runner.invoke(app, [name.replace("_", "-"), "--help"]).stdout)
    return texts


def test_help_is_plain_and_complete():
    for text in _help_texts():
        assert "<bool>" not in text and "<int>" not in text.split("Options:")[0]
        assert " ." not in text and " ," not in text, text  # no stray space before a stop
        assert "..." not in text.split("Commands:")[-1] if "Commands:" in text else True
    search_help = runner.invoke(app, ["search", "--help"]).stdout
    assert "--min-score" in search_help
    min_score_help = search_help.split("--min-score", 1)[1].split("--", 1)[0]
    assert "cosine similarity" in " ".join(min_score_help.split())
    main_help = runner.invoke(app, ["--help"]).stdout
    assert "-v, --verbose  More logs." in main_help
