"""What the MCP tools answer: compact views of the operations' results, their schemas, and the
fence around text that comes from the footage.

Every byte a tool lists or answers lands in a chat model's context window. ``tools/list`` was
39,937 characters (about 10k tokens paid in every conversation before the first question): the
operations' own models, with every description and title, written out again for each tool.
These views carry what an agent uses, flat, described by their field names, and
:func:`compact_schema` drops what JSON Schema repeats (titles, the null branch and null default
of optional fields). Replies are bounded (:data:`~shotseek.pipeline.config.MCP_REPLY_BYTES`)
and page with a cursor.

Text that comes from the footage or the files — captions (with the on-screen text the VLM read),
the VLM's reasons, file names and paths — is data, never instructions: every agent-facing text
line shows it inside ``«…»`` (:func:`fenced`), with the fence characters inside it replaced, so a
filmed sign cannot close the fence and speak as the server.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from shotseek.pipeline.config import MAX_LIST_ITEMS, MAX_TEXT_CHARS, MCP_REPLY_BYTES
from shotseek.pipeline.errors import QueryError
from shotseek.pipeline.models import (
    BoundaryKind,
    CaptionReport,
    IndexJob,
    IndexOutcome,
    IndexStatus,
    JobState,
    SearchResult,
    VideoRecord,
    VideoStructure,
)

FENCE_OPEN, FENCE_CLOSE = "«", "»"


def fenced(text: str | None) -> str:
    """Untrusted text as data: on one line, inside ``«…»``, unable to close the fence."""
    flat = " ".join(str(text or "").split())
    safe = flat.replace(FENCE_OPEN, "‹").replace(FENCE_CLOSE, "›")
    return f"{FENCE_OPEN}{safe}{FENCE_CLOSE}"


def compact_schema(schema: Any, *, output: bool = False) -> Any:
    """A JSON schema without what it repeats: titles; for an optional field (one with a null
    default) its null branch and default; in arguments, bounds no agent reaches (a text's
    2,000 characters, a path's 4,096, a list's 100 items; the arguments are still checked
    against them). An
    output schema (``output``) also goes without descriptions (the tool's says it), defaults
    (a reply has its values), ``required`` lists, which repeat every field name (a reply
    leaves an empty optional field out rather than sending null: :func:`structured`), and the
    type of an enumeration of strings (its values say it; arguments keep it: some clients ask
    a type of every argument)."""
    if isinstance(schema, list):
        return [compact_schema(item, output=output) for item in schema]
    if not isinstance(schema, dict):
        return schema
    dropped = {"title", "required", "description"} if output else {"title", "minLength"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs") and isinstance(value, dict):  # names, not keywords
            out[key] = {name: compact_schema(v, output=output) for name, v in value.items()}
        elif key not in dropped and not (
            (key == "maxLength" and isinstance(value, int) and value >= MAX_TEXT_CHARS)
            or (key == "maxItems" and isinstance(value, int) and value >= MAX_LIST_ITEMS)
        ):
            out[key] = compact_schema(value, output=output)
    if output and "enum" in out and out.get("type") == "string":  # the values say it
        del out["type"]
    branches = out.get("anyOf")
    if "default" in out and out["default"] is None and isinstance(branches, list):
        kept = [b for b in branches if b != {"type": "null"}]
        if len(kept) == 1:
            del out["anyOf"], out["default"]
            out = {**kept[0], **out}
    if output:
        out.pop("default", None)
    if "$defs" in out:
        out = _inline_single_use(out)
    return out


def output_schema(schema: dict) -> dict:
    """An output schema as the tool list carries it (:func:`compact_schema`, then nested
    objects untyped)."""
    return _untyped_objects(compact_schema(schema, output=True))


def _inline_single_use(schema: dict) -> dict:
    """A definition used once written where it is used (a ``$ref`` and its name cost more)."""
    defs = dict(schema["$defs"])
    text = json.dumps({k: v for k, v in schema.items() if k != "$defs"})
    text += json.dumps(defs)
    once = {n for n in defs if text.count(f'"#/$defs/{n}"') == 1}

    def put(node: Any) -> Any:
        if isinstance(node, list):
            return [put(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "")
        name = ref.removeprefix("#/$defs/")
        if name in once and len(node) == 1:
            return put(defs[name])
        return {k: put(v) for k, v in node.items()}

    kept = {n: put(d) for n, d in defs.items() if n not in once}
    body = {k: put(v) for k, v in schema.items() if k != "$defs"}
    return {"$defs": kept, **body} if kept else body


_SCALARS = ("string", "integer", "number", "boolean")


def _untyped_objects(node: Any, root: bool = True) -> Any:
    """An output schema whose nested objects go without ``"type": "object"`` (their
    properties say it; the root keeps it, as MCP asks), and whose plain scalar fields go
    without a type (``{}``: a reply's field names say what they hold, ``score``, ``shot_id``,
    ``start``; enumerations, arrays and nullable fields keep theirs)."""
    if isinstance(node, list):
        return [_untyped_objects(item, False) for item in node]
    if not isinstance(node, dict):
        return node
    drop = not root and (
        (node.get("type") == "object" and "properties" in node)
        or (node.get("type") in _SCALARS and set(node) == {"type"})
    )
    return {k: _untyped_objects(v, False) for k, v in node.items() if not (drop and k == "type")}


def structured(view: BaseModel) -> dict[str, Any]:
    """A view as structured content: JSON, optional fields left out while they hold their
    default (null, false); a required field is always there, null included."""
    return view.model_dump(mode="json", exclude_defaults=True)


def page_by_bytes(items: list[BaseModel], start: int, limit: int) -> tuple[list, int | None]:
    """Up to ``limit`` items from ``start``, cut before their JSON passes the reply bound;
    the offset of the next page, or None at the end."""
    page: list = []
    size = 0
    for item in items[start : start + limit]:
        size += len(json.dumps(structured(item)))
        if page and size > MCP_REPLY_BYTES * 3 // 4:  # room for the rest of the reply
            break
        page.append(item)
    end = start + len(page)
    return page, (end if end < len(items) else None)


def offset_of(cursor: str | None) -> int:
    """Where a page starts: the ``next_cursor`` of the page before (the first page: none)."""
    if not cursor:
        return 0
    if not cursor.isdigit():
        raise QueryError(
            f"cursor {cursor[:40]!r} is not one this server gave: pass the next_cursor of the "
            "page before, or none for the first page"
        )
    return int(cursor)


# -- index jobs --------------------------------------------------------------------------------


class FileResult(BaseModel):
    path: str
    status: IndexStatus
    shots: int | None = None
    reason: str | None = None

    @classmethod
    def of(cls, outcome: IndexOutcome) -> FileResult:
        return cls(
            path=outcome.path, status=outcome.status, shots=outcome.n_shots, reason=outcome.reason
        )


class JobView(BaseModel):
    """An index job: queued, listing, running, then finished, failed or cancelled."""

    job_id: str
    state: JobState
    files_total: int | None = None
    indexed: int
    skipped: int
    failed: int
    now: str | None = None
    results: list[FileResult] | None = None
    next_offset: int | None = None
    error: str | None = None

    @classmethod
    def of(cls, job: IndexJob) -> JobView:
        current = job.current
        return cls(
            job_id=job.job_id,
            state=job.state,
            files_total=job.files_total,
            indexed=job.counts.indexed,
            skipped=job.counts.skipped,
            failed=job.counts.failed,
            now=f"{current.path}: {current.stage}" if current and job.state == "running" else None,
            results=[FileResult.of(r) for r in job.results] or None,
            next_offset=job.next_offset,
            error=job.error,
        )


# -- searches ----------------------------------------------------------------------------------


class HitView(BaseModel):
    rank: int
    score: float
    shot_id: str
    path: str
    start: float
    end: float
    source_tc: str | None = None
    scene: int
    class_index: int
    match: bool | None = None
    relevance: float | None = None
    explanation: str | None = None
    caption: str | None = None
    steps: list[str] | None = None  # a sequence's shots, one per step (times: the text)


class SearchView(BaseModel):
    """Shots ranked best first; keep search_id to refine. no_good_match null: calibrating."""

    search_id: str
    no_good_match: bool | None
    note: str | None = None
    hits: list[HitView]

    @classmethod
    def of(cls, result: SearchResult) -> SearchView:
        return cls(
            search_id=result.search_id,
            no_good_match=result.no_good_match,
            note=result.note,
            hits=[
                HitView(
                    rank=h.rank,
                    score=h.score,
                    shot_id=h.shot.shot_id,
                    path=h.shot.path,
                    start=h.shot.start,
                    end=h.shot.end,
                    source_tc=h.shot.source_tc,
                    scene=h.shot.scene,
                    class_index=h.shot.class_index,
                    match=h.match,
                    relevance=h.relevance,
                    explanation=h.explanation,
                    caption=h.caption,
                    steps=[s.shot.shot_id for s in h.steps] if h.steps else None,
                )
                for h in result.hits
            ],
        )


# -- the archive -------------------------------------------------------------------------------


class VideoView(BaseModel):
    video_id: str
    path: str
    duration: float
    n_classes: int
    n_scenes: int
    n_shots: int
    model_id: str

    @classmethod
    def of(cls, record: VideoRecord) -> VideoView:
        return cls.model_validate(record, from_attributes=True)  # its fields, read off it


class VideoPage(BaseModel):
    videos: list[VideoView]
    total: int
    next_cursor: str | None = None


class ClassView(BaseModel):
    index: int
    scenes: int
    seconds: float


class SceneView(BaseModel):
    index: int
    class_index: int
    start: float
    end: float
    shots: int


class ShotView(BaseModel):
    shot_id: str
    scene: int
    start: float
    end: float
    boundary: BoundaryKind


class StructurePage(BaseModel):
    """Classes (looks that recur) → scenes (runs of one class) → a page of shots."""

    video_id: str
    path: str
    duration: float
    n_scenes: int
    classes: list[ClassView]
    scenes: list[SceneView]
    shots: list[ShotView]
    shots_total: int
    next_cursor: str | None = None

    @classmethod
    def of(
        cls,
        structure: VideoStructure,
        *,
        cursor: str | None,
        limit: int,
        after: float | None,
        before: float | None,
    ) -> StructurePage:
        """The shots overlapping [after, before], a page of them from the cursor, with the
        classes and the scenes those shots are in."""
        shots = [
            ShotView(
                shot_id=s.shot_id,
                scene=scene.index,
                start=s.start,
                end=s.end,
                boundary=s.boundary,
            )
            for scene in structure.scenes
            for s in scene.shots
            if (after is None or s.end > after) and (before is None or s.start < before)
        ]
        page, next_offset = page_by_bytes(shots, offset_of(cursor), limit)
        shown = {s.scene for s in page}
        video = structure.video
        return cls(
            video_id=video.video_id,
            path=video.path,
            duration=video.duration,
            n_scenes=video.n_scenes,
            classes=[
                ClassView(index=c.index, scenes=len(c.scenes), seconds=round(c.seconds, 3))
                for c in structure.classes
            ],
            scenes=[
                SceneView(
                    index=s.index,
                    class_index=s.class_index,
                    start=s.start,
                    end=s.end,
                    shots=len(s.shots),
                )
                for s in structure.scenes
                if s.index in shown
            ],
            shots=page,
            shots_total=len(shots),
            next_cursor=None if next_offset is None else str(next_offset),
        )


class JobStateView(BaseModel):
    job_id: str
    state: JobState


class ForgetView(BaseModel):
    video_ids: list[str]
    shots: int


class ExportView(BaseModel):
    """Links to read the files written (an EDL: one per frame rate)."""

    files: list[str]
    clips: int
    notes: list[str] = []


class CaptionView(BaseModel):
    shot_id: str
    caption: str | None = None
    cached: bool = False
    error: str | None = None


class CaptionsView(BaseModel):
    captions: list[CaptionView]

    @classmethod
    def of(cls, report: CaptionReport) -> CaptionsView:
        return cls(
            captions=[CaptionView.model_validate(c, from_attributes=True) for c in report.captions]
        )
