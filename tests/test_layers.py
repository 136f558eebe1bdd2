"""The house as laid: the import-linter contracts in pyproject.toml (doors over operations over
the pipeline, the pipeline's own layers, no import circles), and a server that starts without
loading a model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_layer_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout and "3 kept" in done.stdout


def test_the_doors_and_operations_load_without_a_model():
    """`shotseek serve` answers `videos` without torch: once, a type hint in jobs.py made every
    server start import it (6.6 s)."""
    code = (
        "import sys\n"
        "import shotseek.server.cli, shotseek.server.mcp_app, shotseek.server.local\n"
        "import shotseek.ops.operations\n"
        "print(sorted(m for m in ('torch', 'open_clip', 'ollama', 'ray') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
