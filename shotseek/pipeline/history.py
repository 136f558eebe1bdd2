"""What searches leave behind: the search history (so ``refine`` can build on a search, across
processes) and the score calibration behind ``no_good_match``.

Both live in files under the data directory and are written by many threads (the MCP server runs
searches on worker threads) and possibly several processes (a CLI beside a server on a Qdrant
server store). Every write goes to a unique temporary file renamed over the target, so readers see
the old or the new content, never half of it; the calibration's read-modify-write runs under a
lock that is both a thread lock and an exclusive file lock, so no update is lost.

**Calibration.** Scores have no fixed scale: a true text match scores about 0.3 with real CLIP
ViT-L-14 and 0.96 with the tiny test model, and a near miss can score almost as high as a hit. So
the floor is learned per collection and per query kind (text, image, text+image) from the top
scores of the searches run against it: the typical top score is the median of the upper half of
the last ``CALIBRATION_WINDOW`` top-1 scores, and a search whose best score falls more than
``NO_MATCH_MARGIN`` robust deviations (at least 2 % of the typical top) below it reports
``no_good_match``. Until ``CALIBRATION_MIN`` searches of that kind exist, ``no_good_match`` is
null and the result says the collection is still calibrating.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from shotseek.pipeline.config import (
    CALIBRATION_MIN,
    CALIBRATION_WINDOW,
    MAX_SEARCHES_KEPT,
    NO_MATCH_MARGIN,
    Settings,
)
from shotseek.pipeline.errors import SearchNotFoundError
from shotseek.pipeline.models import SearchResult

try:  # POSIX: a lock that other processes see too
    import fcntl
except ImportError:  # pragma: no cover - Windows: threads only
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

_THREAD_LOCK = threading.Lock()


def write_atomically(target: Path, content: str | bytes) -> None:
    """Write a file (text as UTF-8, or bytes) so that readers see the old or the new content,
    never half of it.

    The temporary file has a unique name, so concurrent writers never share (or delete) one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        if isinstance(content, bytes):
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
        else:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(content)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Exclusive across the threads of this process and, where the OS allows, across processes."""
    folder.mkdir(parents=True, exist_ok=True)
    with _THREAD_LOCK, open(folder / ".lock", "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


# -- the search history ------------------------------------------------------------------------


class SearchRecord(BaseModel):
    """What is kept of a search so that refine can build on it, across processes."""

    result: SearchResult
    vector: list[float]


def history_dir(settings: Settings) -> Path:
    return settings.data_dir / "searches"


def save_search(settings: Settings, record: SearchRecord) -> None:
    """Keep a search; only the last ``MAX_SEARCHES_KEPT`` are kept."""
    folder = history_dir(settings)
    write_atomically(folder / f"{record.result.search_id}.json", record.model_dump_json())
    with _locked(folder):
        kept = []
        for path in folder.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):  # another writer pruned it meanwhile
                kept.append((path.stat().st_mtime, path))
        kept.sort()
        for _, old in kept[:-MAX_SEARCHES_KEPT]:
            old.unlink(missing_ok=True)


def load_search_record(settings: Settings, search_id: str) -> SearchRecord:
    search_id = search_id.strip()
    folder = history_dir(settings)
    valid = bool(search_id) and search_id.isalnum() and len(search_id) <= 64
    path = folder / f"{search_id}.json"
    if not valid or not path.is_file():
        raise SearchNotFoundError(
            f"no search with id {search_id[:80]!r}: search ids are printed with each search; "
            f"the last {MAX_SEARCHES_KEPT} are kept in {folder}"
        )
    return SearchRecord.model_validate_json(path.read_text())


# -- calibration of no_good_match ----------------------------------------------------------------


def _calibration_path(settings: Settings, model_id: str) -> Path:
    digest = hashlib.sha1(model_id.encode()).hexdigest()[:12]
    return settings.data_dir / "calibration" / f"{digest}.json"


def _read_calibration(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    try:
        return {k: [float(x) for x in v] for k, v in json.loads(path.read_text()).items()}
    except (ValueError, AttributeError, TypeError):
        log.warning("ignoring unreadable calibration file %s", path)
        return {}


def judge_top_score(
    settings: Settings, model_id: str, kind: str, best: float
) -> tuple[bool | None, float | None, str | None]:
    """Compare a search's best score with the collection's typical top score for its kind,
    then add it to what is learned. Returns (no_good_match, typical_top, note)."""
    path = _calibration_path(settings, model_id)
    with _locked(path.parent):
        history = _read_calibration(path)
        tops = history.get(kind, [])[-CALIBRATION_WINDOW:]
        history[kind] = [*tops, round(best, 6)][-CALIBRATION_WINDOW:]
        write_atomically(path, json.dumps(history))
    if len(tops) < CALIBRATION_MIN:
        note = (
            f"no_good_match is not judged yet: the collection is calibrating "
            f"({len(tops)} of {CALIBRATION_MIN} {kind} searches)"
        )
        return None, None, note
    upper = np.sort(np.asarray(tops))[len(tops) // 2 :]
    typical = float(np.median(upper))
    spread = max(1.4826 * float(np.median(np.abs(upper - typical))), 0.02 * abs(typical))
    verdict = best < typical - NO_MATCH_MARGIN * spread
    note = None
    if verdict:
        note = (
            f"no good match: the best score {best:.3f} is well below the {typical:.3f} that "
            f"{kind} searches typically reach here; what was asked for is probably not in the "
            "footage searched"
        )
    return verdict, typical, note


def calibration_counts(settings: Settings, model_id: str) -> dict[str, int]:
    """How many top scores are learned per query kind (for status displays and tests)."""
    return {k: len(v) for k, v in _read_calibration(_calibration_path(settings, model_id)).items()}
