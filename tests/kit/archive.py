"""An indexed archive for tests that search: generated videos indexed with the tiny CLIP
fixture (tests/kit/tiny_clip), the way ``shotseek index`` does it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shotseek.pipeline.config import Settings

if TYPE_CHECKING:
    from shotseek.pipeline.store import ShotStore

TINY_CLIP_DIR = Path(__file__).parent / "tiny_clip"
TINY_CLIP = f"local-dir:{TINY_CLIP_DIR}"


def cli_env(data: Path, **settings: str) -> dict[str, str]:
    """The environment of a ``shotseek`` subprocess on the tiny CLIP fixture and the CPU, its
    data under ``data``; ``settings`` add ``SHOTSEEK_*`` variables (``media_roots="…"``)."""
    return {
        **os.environ,
        "SHOTSEEK_DATA_DIR": str(data),
        "SHOTSEEK_MODEL": TINY_CLIP,
        "SHOTSEEK_DEVICE": "cpu",
        **{f"SHOTSEEK_{key.upper()}": value for key, value in settings.items()},
    }


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m shotseek ARGS`` run to its end, its output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "shotseek", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def indexed_store(media: Path, data: Path) -> tuple[Settings, ShotStore]:
    """Every video under ``media`` indexed into ``data`` (all must index); the store is
    returned open: close it."""
    from shotseek.pipeline.runners import index_paths  # torch: only when a test indexes
    from shotseek.pipeline.store import ShotStore

    settings = Settings(data_dir=data, model=TINY_CLIP, device="cpu")
    store = ShotStore(settings)
    report = index_paths([media], settings, store=store)
    assert report.results and all(r.status == "indexed" for r in report.results), report
    return settings, store


def archive_of(settings: Settings) -> dict[str, list[tuple]]:
    """What a store holds, per file name: each shot's times, scene, class, vector and
    thumbnail bytes, in order (for comparing runs that should give the same archive)."""
    from shotseek.pipeline.store import ShotStore

    with ShotStore(settings) as store:
        (model_id,) = store.models()
        archive = {}
        for video in store.list_videos(model_id):
            shots = store.shots_of(model_id, video.video_id)
            vectors = store.shot_vectors(model_id, [s.shot_id for s in shots])
            archive[video.file_name] = [
                (
                    s.start,
                    s.end,
                    s.scene,
                    s.class_index,
                    vectors[s.shot_id],
                    Path(s.thumbnail).read_bytes(),
                )
                for s in shots
            ]
        return archive


def assert_same_archive(here: dict, there: dict) -> None:
    """Two :func:`archive_of` the same: times, scenes, classes, thumbnails; vectors to 1e-5."""
    assert sorted(here) == sorted(there)
    for name in here:
        assert len(here[name]) == len(there[name]) > 3
        for mine, theirs in zip(here[name], there[name], strict=True):
            assert mine[:4] == theirs[:4]  # times, scene and class
            assert np.allclose(mine[4], theirs[4], atol=1e-5)
            assert mine[5] == theirs[5]  # the thumbnail, kept by a worker or read back
