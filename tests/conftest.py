"""Shared fixtures: generated footage and the tiny CLIP fixture. Nothing here uses the network."""

from __future__ import annotations

import os

# No test may download weights: make the hub fail fast instead of waiting on a closed network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from tests.kit.archive import TINY_CLIP, TINY_CLIP_DIR  # noqa: E402, F401 (tests import them here)
from tests.kit.footage import Footage, standard_footage  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own data directory, no stray SHOTSEEK_* settings, and no text
    graphs."""
    for key in list(os.environ):
        if key.startswith("SHOTSEEK_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    # Writing a model's text graph takes seconds per data directory; tests/test_text_graph.py
    # turns it on where it is what is tested.
    monkeypatch.setenv("SHOTSEEK_TEXT_GRAPH", "0")


@pytest.fixture(scope="session")
def footage_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("footage")


@pytest.fixture(scope="session")
def standard_video(footage_dir: Path) -> Footage:
    """The standard multi-scene video, with a frame-number barcode on every frame."""
    return standard_footage(footage_dir / "standard.mp4", barcode=True)


@pytest.fixture(scope="session")
def tiny_encoder():
    from shotseek.pipeline.encoder import create_encoder

    return create_encoder(TINY_CLIP, None, device="cpu")
