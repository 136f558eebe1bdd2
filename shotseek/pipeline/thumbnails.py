"""Shot thumbnails: written at indexing time under ``<data dir>/thumbnails/<video>/<run>/``,
read back only from there, and tiled into a contact sheet for many hits.

A thumbnail's path travels in the store's payload; a payload is data, not a permission, so a
path is served only when its real location lies under the data directory's thumbnail folder."""

from __future__ import annotations

import errno
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shotseek.pipeline.config import THUMBNAIL_READERS, Settings
from shotseek.pipeline.video import frames_at

log = logging.getLogger(__name__)


def thumbnails_root(settings: Settings) -> Path:
    return settings.data_dir / "thumbnails"


def thumbnails_dir(settings: Settings, video_id: str) -> Path:
    return thumbnails_root(settings) / video_id


def jpeg(image: np.ndarray) -> bytes:
    """A thumbnail's file content (the image is already at its size)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


class KeptThumbnails:
    """Thumbnails of a video's samples made during its one decoding pass, for the shots'
    keyframes among them, so those need not be decoded again. They wait in a temporary file
    under the thumbnail folder (nameless: the system removes it when it is closed or the process
    dies), so memory stays flat however long the video. If the disk refuses them, the rest are
    read back from the video like any other keyframe."""

    def __init__(self, settings: Settings) -> None:
        root = thumbnails_root(settings)
        root.mkdir(parents=True, exist_ok=True)
        self._file = tempfile.TemporaryFile(dir=root, buffering=0)  # a refusal shows at once
        self._at: dict[float, tuple[int, int]] = {}  # time → (offset, length)
        self._end = 0
        self._refused = False

    def add(self, time: float, image: np.ndarray) -> None:
        """Keep ``image`` (at its thumbnail size) as the thumbnail of the frame at ``time``."""
        if not self._refused:
            self.add_jpeg(time, jpeg(image))

    def add_jpeg(self, time: float, data: bytes) -> None:
        """Keep a thumbnail already made (on a Ray worker)."""
        if self._refused:
            return
        try:
            self._file.seek(self._end)
            if self._file.write(data) != len(data):
                raise OSError(errno.ENOSPC, "the disk took part of a thumbnail")
        except OSError as exc:
            log.warning("thumbnails will be read back from the video: %s", exc)
            self._refused = True
            return
        self._at[time] = (self._end, len(data))
        self._end += len(data)

    def get(self, time: float) -> bytes | None:
        """The thumbnail kept for ``time``, or None (not kept, or it cannot be read)."""
        if time not in self._at:
            return None
        offset, length = self._at[time]
        try:
            self._file.seek(offset)
            data = self._file.read(length)
        except OSError as exc:
            log.warning("a thumbnail will be read back from the video: %s", exc)
            return None
        return data if len(data) == length else None

    @property
    def count(self) -> int:
        """How many thumbnails are kept."""
        return len(self._at)

    def close(self) -> None:
        self._file.close()


def write_thumbnails(
    settings: Settings,
    video: Path,
    video_id: str,
    run_id: str,
    times: Sequence[float],
    kept: KeptThumbnails | None = None,
) -> list[str]:
    """One JPEG per time (a shot's keyframe): one ``kept`` during the decoding pass, else
    decoded again from the video; their paths."""
    run_dir = thumbnails_dir(settings, video_id) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    times = list(times)
    found = {t: data for t in times if kept is not None and (data := kept.get(t)) is not None}
    missing = sorted({t for t in times if t not in found})
    # Each keyframe read back costs a seek and the decoding of its GOP: several readers share
    # them out (10 min of 720p, 100 keyframes, 2 cores: 10.0 s with one reader, 7.1 s with two).
    readers = max(1, min(THUMBNAIL_READERS, os.cpu_count() or 1, len(missing)))
    step = max(1, -(-len(missing) // readers))
    chunks = [missing[k : k + step] for k in range(0, len(missing), step)]
    with ThreadPoolExecutor(max_workers=readers) as pool:
        parts = pool.map(
            lambda chunk: frames_at(video, chunk, thumbnail_width=settings.thumbnail_width),
            chunks,
        )
        found |= {t: jpeg(image) for t, image in zip(missing, (i for p in parts for i in p))}
    paths = []
    for i, t in enumerate(times):
        target = run_dir / f"{i:05d}.jpg"
        target.write_bytes(found[t])
        paths.append(str(target))
    return paths


def drop_run(settings: Settings, video_id: str, run_id: str) -> None:
    shutil.rmtree(thumbnails_dir(settings, video_id) / run_id, ignore_errors=True)


def drop_other_runs(settings: Settings, video_id: str, keep: str) -> None:
    folder = thumbnails_dir(settings, video_id)
    for run_dir in folder.iterdir() if folder.is_dir() else ():
        if run_dir.name != keep:
            shutil.rmtree(run_dir, ignore_errors=True)


def drop_video(settings: Settings, video_id: str) -> None:
    shutil.rmtree(thumbnails_dir(settings, video_id), ignore_errors=True)


def trusted_thumbnail(settings: Settings, path: str | None) -> Path | None:
    """``path`` if it is a thumbnail file under this data directory, else None."""
    if not path or "\x00" in path:
        return None
    root = Path(os.path.realpath(thumbnails_root(settings)))
    real = Path(os.path.realpath(path))
    if root not in real.parents or real.suffix.lower() != ".jpg" or not real.is_file():
        return None
    return real


def contact_sheet(
    thumbnails: Sequence[Path], labels: Sequence[str], columns: int = 4, width: int = 240
) -> bytes:
    """The thumbnails tiled left to right, top to bottom, each labelled, as one JPEG."""
    thumbs = [Image.open(p).convert("RGB") for p in thumbnails]
    height = max(round(t.height * width / t.width) for t in thumbs)
    rows = (len(thumbs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width, rows * height), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for i, (label, thumb) in enumerate(zip(labels, thumbs)):
        x, y = (i % columns) * width, (i // columns) * height
        sheet.paste(thumb.resize((width, round(thumb.height * width / thumb.width))), (x, y))
        draw.rectangle((x, y, x + 34, y + 16), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), label, fill=(255, 255, 0))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=80)
    return buf.getvalue()
