"""An indexed archive for tests that search: generated videos indexed with the tiny CLIP
fixture (tests/kit/tiny_clip), the way ``shotseek index`` does it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from shotseek.pipeline.config import Settings

if TYPE_CHECKING:
    from shotseek.pipeline.store import ShotStore

TINY_CLIP_DIR = Path(__file__).parent / "tiny_clip"
TINY_CLIP = f"local-dir:{TINY_CLIP_DIR}"


def indexed_store(media: Path, data: Path) -> tuple[Settings, ShotStore]:
    """Every video under ``media`` indexed into ``data`` (all must index); the store is
    returned open: close it."""
    from shotseek.pipeline.index import index_paths  # torch: only when a test indexes
    from shotseek.pipeline.store import ShotStore

    settings = Settings(data_dir=data, model=TINY_CLIP, device="cpu")
    store = ShotStore(settings)
    report = index_paths([media], settings, store=store)
    assert report.results and all(r.status == "indexed" for r in report.results), report
    return settings, store
