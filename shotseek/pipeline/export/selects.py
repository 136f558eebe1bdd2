"""The shots to export, as editors count them: each one's file (checked on disk), its clock (exact
rate, embedded start timecode) and its first and last frame, with handles."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import ExportError, VideoNotFoundError
from shotseek.pipeline.media import VIDEO_EXTENSIONS, content_id
from shotseek.pipeline.models import ExportOrder, SearchHit, Shot, VideoRecord
from shotseek.pipeline.timecode import SourceClock, parse_timecode
from shotseek.pipeline.video import probe

_FRAMES = re.compile(r"^\s*(\d+)\s*f\s*$")


class Length(BaseModel):
    """A length as a person types it: seconds (1.5, 1s, 00:00:01.500) or frames (12f),
    frames counted at each file's own rate."""

    model_config = ConfigDict(frozen=True)

    seconds: float = 0.0
    frames: int | None = None

    @classmethod
    def parse(cls, text: str | float | int, what: str) -> Length:
        if isinstance(text, (int, float)):
            value = str(text)
        else:
            value = text.strip()
        frames = _FRAMES.match(value)
        if frames:
            return cls(frames=int(frames.group(1)))
        try:
            return cls(seconds=parse_timecode(value.removesuffix("s").strip()))
        except ValueError as exc:
            raise ExportError(
                f"{what} {text!r} is not a length: give seconds (1, 1.5s, 00:00:01.500) or "
                "frames (12f)"
            ) from exc

    def frames_at(self, clock: SourceClock) -> int:
        return self.frames if self.frames is not None else clock.frame_at(self.seconds)


class Select(BaseModel):
    """One shot on its way to the editor: where it is and which frames it spans."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(description="1-based position in the export.")
    rank: int | None = Field(description="Its rank in the search (None: named by shot id).")
    score: float | None = None
    query: str | None = None
    shot: Shot
    path: str = Field(description="The file as found on disk now.")
    file_name: str
    clock: SourceClock
    width: int
    height: int
    first_frame: int = Field(description="The shot's first frame, from the file's frame 0.")
    end_frame: int = Field(description="The frame after the shot's last.")
    in_frame: int = Field(description="First frame exported (the shot's, less the handle).")
    out_frame: int = Field(description="Frame after the last exported (exclusive).")
    total_frames: int = Field(description="Frames in the file.")
    match: bool | None = None
    relevance: float | None = None
    caption: str | None = None

    @property
    def frames(self) -> int:
        return self.out_frame - self.in_frame

    @property
    def source_in(self) -> str:
        return self.clock.timecode(self.in_frame)

    @property
    def source_out(self) -> str:
        """Exclusive, as EDLs and editors write an out point."""
        return self.clock.timecode(self.out_frame)


class Located(BaseModel):
    """A video's file on disk now and how it counts frames."""

    path: Path
    clock: SourceClock
    width: int
    height: int
    moved_from: str | None = None


def locate(record: VideoRecord, settings: Settings) -> Located:
    """The file of an indexed video: at its recorded path when the content there is still this
    video's, else found by content id under the media roots (a moved or renamed file)."""
    path = Path(record.path)
    if path.is_file() and _same_video(path, record):
        return _probed(path)
    for root in settings.media_root_paths:
        for candidate in _videos_of_size(root, record.size_bytes):
            if _same_video(candidate, record):
                return _probed(candidate, moved_from=record.path)
    where = (
        "nor under the media roots"
        if settings.media_root_paths
        else "(set SHOTSEEK_MEDIA_ROOTS to where it may have moved, or index it again there)"
    )
    state = "has changed" if path.is_file() else "is no longer there"
    raise VideoNotFoundError(
        f"{record.file_name} (video {record.video_id[:8]}): the file at {record.path} {state}, "
        f"and no file with its content was found {where}"
    )


def _same_video(path: Path, record: VideoRecord) -> bool:
    try:
        return path.stat().st_size == record.size_bytes and content_id(path) == record.video_id
    except OSError:
        return False


def _videos_of_size(root: Path, size: int) -> list[Path]:
    found = []
    for candidate in root.rglob("*"):
        try:
            if candidate.suffix.lower() in VIDEO_EXTENSIONS and candidate.stat().st_size == size:
                found.append(candidate)
        except OSError:
            continue
    return sorted(found)


def _probed(path: Path, moved_from: str | None = None) -> Located:
    info = probe(path)
    if info.clock is None:
        raise VideoNotFoundError(
            f"{path} gives no frame rate in its header: its frames cannot be numbered for an editor"
        )
    return Located(
        path=path, clock=info.clock, width=info.width, height=info.height, moved_from=moved_from
    )


def selects_of(
    hits: Sequence[SearchHit | Shot],
    records: dict[str, VideoRecord],
    settings: Settings,
    *,
    query: str | None,
    handles: Length,
    order: ExportOrder,
    captions: dict[str, str],
    notes: list[str],
) -> list[Select]:
    """Hits (in rank order) or shots as selects, each with its file located and its frames
    counted, with the VLM's verdict and the caption (``captions``: those stored); ``notes``
    hears what a user should know (a file found at a new place)."""
    located: dict[str, Located] = {}
    out: list[Select] = []
    for item in hits:
        shot = item.shot if isinstance(item, SearchHit) else item
        record = records[shot.video_id]
        if shot.video_id not in located:
            located[shot.video_id] = where = locate(record, settings)
            if where.moved_from:
                notes.append(f"{record.file_name} was found at {where.path} (moved)")
        where = located[shot.video_id]
        clock = where.clock
        first, end = clock.frame_at(shot.start), clock.frame_at(shot.end)
        end = max(end, first + 1)
        total = max(end, clock.frame_at(record.duration))
        handle = handles.frames_at(clock)
        hit = item if isinstance(item, SearchHit) else None
        out.append(
            Select(
                number=0,
                rank=hit.rank if hit else None,
                score=hit.score if hit else None,
                query=query,
                shot=shot,
                path=str(where.path),
                file_name=where.path.name,
                clock=clock,
                width=where.width,
                height=where.height,
                first_frame=first,
                end_frame=end,
                in_frame=max(0, first - handle),
                out_frame=min(total, end + handle),
                total_frames=total,
                match=hit.match if hit else None,
                relevance=hit.relevance if hit else None,
                caption=(hit.caption if hit else None) or captions.get(shot.shot_id),
            )
        )
    if order == "source":
        out.sort(key=lambda s: (s.path, s.first_frame))
    return [s.model_copy(update={"number": i + 1}) for i, s in enumerate(out)]
