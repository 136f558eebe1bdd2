"""Shot thumbnails: written at indexing time under ``<data dir>/thumbnails/<video>/<run>/``,
read back only from there, and tiled into a contact sheet for many hits.

A thumbnail's path travels in the store's payload; a payload is data, not a permission, so a
path is served only when its real location lies under the data directory's thumbnail folder."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shotseek.pipeline.config import THUMBNAIL_READERS, Settings
from shotseek.pipeline.video import frames_at


def thumbnails_root(settings: Settings) -> Path:
    return settings.data_dir / "thumbnails"


def thumbnails_dir(settings: Settings, video_id: str) -> Path:
    return thumbnails_root(settings) / video_id


def _save(image: np.ndarray, target: Path, width: int) -> None:
    pil = Image.fromarray(image)
    if pil.width > width:
        pil = pil.resize((width, max(1, round(pil.height * width / pil.width))), Image.LANCZOS)
    pil.save(target, format="JPEG", quality=85)


def write_thumbnails(
    settings: Settings, video: Path, video_id: str, run_id: str, times: Sequence[float]
) -> list[str]:
    """One JPEG per time (a shot's keyframe), decoded again from the video; their paths."""
    run_dir = thumbnails_dir(settings, video_id) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    # Each keyframe costs a seek and the decoding of its GOP: several readers share them out
    # (10 min of 720p, 100 keyframes, 2 cores: 10.0 s with one reader, 7.1 s with two).
    # Frames are decoded at the thumbnail's width as shorter side: enough for any aspect.
    times = list(times)
    readers = max(1, min(THUMBNAIL_READERS, os.cpu_count() or 1, len(times)))
    step = max(1, -(-len(times) // readers))
    chunks = [times[k : k + step] for k in range(0, len(times), step)]
    with ThreadPoolExecutor(max_workers=readers) as pool:
        parts = pool.map(
            lambda chunk: frames_at(video, chunk, short_side=settings.thumbnail_width), chunks
        )
        images = [image for part in parts for image in part]
    for i, image in enumerate(images):
        target = run_dir / f"{i:05d}.jpg"
        _save(image, target, settings.thumbnail_width)
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
