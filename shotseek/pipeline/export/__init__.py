"""Found shots to the editor's timeline: a search's hits (or named shots) as OpenTimelineIO,
CMX 3600 EDL, FCP 7 XML, FCPXML, MLT XML or CSV, in the files' own frames and timecode.

``selects`` finds each shot's file and counts its frames; ``timeline`` builds the OTIO timeline
and writes the formats OTIO's maintained adapters write; ``edl`` and ``mlt`` write the two whose
adapters get timecode wrong (each module says how); ``table`` writes CSV."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

from pydantic import BaseModel

from shotseek.pipeline import history
from shotseek.pipeline.catalog import reader_model
from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import ExportError, UnknownShotError, VideoNotFoundError
from shotseek.pipeline.export.selects import Length, Select, selects_of
from shotseek.pipeline.models import (
    EXPORT_SUFFIXES,
    ClipFile,
    ClipMode,
    ClipReport,
    ExportFormat,
    ExportOrder,
    ExportReport,
    SearchHit,
    Shot,
    VideoRecord,
)


class Gathered(BaseModel):
    """The selects of a request, and what the user should hear about them."""

    selects: list[Select]
    query: str | None
    search_id: str | None
    notes: list[str]


def gather(
    settings: Settings,
    store,
    *,
    search_id: str | None = None,
    shot_ids: list[str] | None = None,
    top: int | None = None,
    order: ExportOrder = "rank",
    handles: str = "0",
) -> Gathered:
    """A search's hits (rank order; ``top``: the first N) or the shots ``shot_ids``, each
    with its file found and its frames counted (``handles`` around each)."""
    if (search_id is None) == (not shot_ids):
        raise ExportError("export a search (its id) or shots (their ids): give one of them")
    handle = Length.parse(handles, "handles")
    items: list[SearchHit] | list[Shot]
    if search_id is not None:
        result = history.load_search_record(settings, search_id).result
        model_id, items = result.model_id, result.hits[:top]
        query = result.query.text or ("an image" if result.query.image else None)
        search_id = result.search_id
        if not items:
            raise ExportError(f"search {search_id} found no shots: there is nothing to export")
    else:
        model_id = reader_model(store, settings).model_id
        found = store.get_shots(model_id, shot_ids)
        unknown = [s for s in shot_ids or [] if s not in found]
        if unknown:
            raise UnknownShotError(
                f"no shot with id {', '.join(unknown[:5])} in the store (a re-index gives its "
                "shots new ids: search again)"
            )
        items, query = [found[s] for s in shot_ids or []][:top], None
    records: dict[str, VideoRecord] = {}
    for item in items:
        video_id = (item.shot if isinstance(item, SearchHit) else item).video_id
        if video_id not in records:
            record = store.get_video(model_id, video_id)
            if record is None:
                raise VideoNotFoundError(
                    f"video {video_id[:8]} of these shots has been forgotten since: index it "
                    "again and search again"
                )
            records[video_id] = record
    shots = [(i.shot if isinstance(i, SearchHit) else i).shot_id for i in items]
    captions = {k: v["caption"] for k, v in store.captions(model_id, shots).items()}
    notes: list[str] = []
    selects = selects_of(
        items,
        records,
        settings,
        query=query,
        handles=handle,
        order=order,
        captions=captions,
        notes=notes,
    )
    return Gathered(selects=selects, query=query, search_id=search_id, notes=notes)


def export_selects(
    settings: Settings,
    store,
    *,
    format: ExportFormat,
    search_id: str | None = None,
    shot_ids: list[str] | None = None,
    top: int | None = None,
    order: ExportOrder = "rank",
    handles: str = "0",
    gap: str = "0",
    output: Path | None = None,
    title: str | None = None,
) -> ExportReport:
    """Write a search's hits or the shots ``shot_ids`` (see :func:`gather`) as ``format`` at
    ``output`` (default: the data directory's exports folder). Everything is checked and
    rendered before a file is written; each file appears whole or not at all."""
    if format not in EXPORT_SUFFIXES:
        known = ", ".join(EXPORT_SUFFIXES)
        raise ExportError(f"unknown export format {format!r}: use one of {known}")
    spacing = Length.parse(gap, "gap")
    got = gather(
        settings,
        store,
        search_id=search_id,
        shot_ids=shot_ids,
        top=top,
        order=order,
        handles=handles,
    )
    selects, query, notes = got.selects, got.query, got.notes
    title = title or (f"shotseek: {query}" if query else "shotseek selects")
    files = render(format, selects, title, spacing)
    target = _target(settings, output, format, got.search_id)
    if len(files) > 1:
        notes.append(
            "a CMX 3600 list has one frame rate; these shots come in several, so there is one "
            "list per rate"
        )
    written = _write(target, files)
    return ExportReport(
        format=format,
        files=[str(p) for p in written],
        clips=len(selects),
        title=title,
        rates=list(dict.fromkeys(s.clock.label for s in selects)),
        search_id=got.search_id,
        notes=notes,
    )


def clip_selects(
    settings: Settings,
    store,
    *,
    search_id: str | None = None,
    shot_ids: list[str] | None = None,
    top: int | None = None,
    order: ExportOrder = "rank",
    handles: str = "0",
    mode: ClipMode = "exact",
    burn_timecode: bool = False,
    reel: bool = False,
    folder: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ClipReport:
    """The shots of :func:`gather` as playable files in ``folder`` (default: the data
    directory's clips): one per shot, or with ``reel`` one file of them all. Each file is
    written under a temporary name and renamed when complete. ``progress(done, total)`` hears
    each file begun (it may raise to stop; the files finished are kept)."""
    from shotseek.pipeline.export import clips

    if reel and mode == "fast":  # refused before any file is searched for and probed
        raise ExportError("a reel is re-encoded (its clips come from several files): drop --fast")
    folder = (folder or settings.clips_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"{folder} is a file: name a folder to write the clips in")
    got = gather(
        settings,
        store,
        search_id=search_id,
        shot_ids=shot_ids,
        top=top,
        order=order,
        handles=handles,
    )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot make the folder {folder}: {exc.strerror or exc}") from exc
    written: list[ClipFile] = []
    jobs: list[tuple[Path, Callable[[Path], ClipFile]]]
    if reel:
        name = f"{got.search_id or 'shots'}-reel.mp4"
        jobs = [(folder / name, lambda p: clips.write_reel(got.selects, p, burn=burn_timecode))]
    else:
        jobs = []
        for select in got.selects:
            if mode == "fast":
                suffix = Path(select.path).suffix.lower() or ".mp4"
                jobs.append(
                    (folder / clips.clip_name(select, suffix), partial(clips.cut_fast, select))
                )
            else:
                jobs.append(
                    (
                        folder / clips.clip_name(select, ".mp4"),
                        partial(clips.cut_exact, select, burn=burn_timecode),
                    )
                )
    for done, (target, make) in enumerate(jobs):
        if progress is not None:
            progress(done, len(jobs))
        written.append(_made(target, make))
    return ClipReport(clips=written, search_id=got.search_id, notes=got.notes)


def _made(target: Path, make: Callable[[Path], ClipFile]) -> ClipFile:
    """``make`` writes a temporary file next to ``target``, renamed to it once complete."""
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=target.suffix)
    os.close(fd)
    partial_path = Path(name)
    try:
        made = make(partial_path)
        os.replace(partial_path, target)
    except OSError as exc:
        raise ExportError(f"cannot write {target}: {exc.strerror or exc}") from exc
    finally:
        partial_path.unlink(missing_ok=True)
    return made.model_copy(update={"path": str(target)})


def render(
    format: ExportFormat, selects: list[Select], title: str, gap: Length
) -> dict[str | None, str]:
    """The text of each file, by name part (None: the file asked for; an EDL per rate when
    the selects have several rates)."""
    from shotseek.pipeline.export import edl, mlt, table, timeline

    reels = edl.reel_names([s.path for s in selects])
    if format == "csv":
        return {None: table.write_csv(selects)}
    if format == "mlt":
        return {None: mlt.write_mlt(selects, title, gap)}
    if format == "edl":
        groups = edl.rate_groups(selects)
        if len(groups) == 1:
            return {None: edl.write_edl(selects, title, gap, reels)}
        return {name: edl.write_edl(part, title, gap, reels) for name, part in groups.items()}
    built = timeline.build_timeline(selects, title, gap, reels)
    if format == "otio":
        return {None: timeline.write_otio(built)}
    if format == "fcp-xml":
        return {None: timeline.write_fcp_xml(built)}
    return {None: timeline.write_fcpxml(built, selects)}


def _target(settings: Settings, output: Path | None, format: str, search_id: str | None) -> Path:
    suffix = EXPORT_SUFFIXES[format]
    if output is None:
        return settings.exports_dir / f"{search_id or 'shots'}{suffix}"
    output = output.expanduser()
    if output.is_dir():
        raise ExportError(f"{output} is a folder: name the file to write (selects{suffix})")
    return output if output.suffix else output.with_suffix(suffix)


def _write(target: Path, files: dict[str | None, str]) -> list[Path]:
    paths = [
        target if name is None else target.with_name(f"{target.stem}.{name}{target.suffix}")
        for name in files
    ]
    try:
        for path, text in zip(paths, files.values()):
            history.write_atomically(path, text)
    except OSError as exc:
        raise ExportError(
            f"cannot write {target}: {exc.strerror or exc} (choose a folder you can write to)"
        ) from exc
    return paths
