"""The operations' requests and results, and which is which (:data:`SPECS`): all a door needs to
send a request and read the answer. Light on purpose (no store, no model): the CLI imports it
before it knows whether a running server will do the work."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from shotseek.pipeline.config import (
    JOB_PAGE_MAX,
    LIMIT_MAX,
    MAX_LIST_ITEMS,
    MAX_REF_CHARS,
    RERANK_MAX,
)
from shotseek.pipeline.evaluation import EvalReport
from shotseek.pipeline.models import (
    CaptionReport,
    ClipMode,
    ClipReport,
    ExportFormat,
    ExportOrder,
    ExportReport,
    IndexJob,
    IndexReport,
    ProgressEvent,
    QueryText,
    Ref,
    SearchIndexState,
    SearchMode,
    SearchQuery,
    SearchResult,
    VideoRecord,
    VideoStructure,
)


class Request(BaseModel):
    """A request: strict on input (an unknown field is a typo, refused where it was made)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoRequest(Request):
    """An operation that takes nothing."""


class IndexRequest(Request):
    paths: list[Ref] = Field(
        min_length=1, max_length=MAX_LIST_ITEMS, description="Video files and folders."
    )
    force: bool = Field(False, description="Re-index files already indexed.")
    within_media_roots: bool = Field(
        False,
        description="Refuse files outside the media roots, links included (the MCP door; the "
        "CLI is its user's own).",
    )


class JobRequest(Request):
    job_id: Ref = Field(description="The job_id index_video answered with.")
    offset: int = Field(0, ge=0, description="First per-file result to return (next_offset).")
    limit: int = Field(JOB_PAGE_MAX, ge=1, le=JOB_PAGE_MAX, description="Results in this page.")


class ForgetRequest(Request):
    video: Ref = Field(description="Video id (or prefix), path or file name.")


class Forgotten(BaseModel):
    """What forgetting a video removed."""

    videos: list[VideoRecord] = Field(
        description="Its record under each model it was indexed with."
    )
    shots: int = Field(description="Shots removed, with their thumbnails and captions.")


class VideosRequest(Request):
    every_model: bool = Field(True, description="Every model's videos, not only the readers'.")


class VideoList(BaseModel):
    """The indexed videos."""

    videos: list[VideoRecord]


class IndexStates(BaseModel):
    """How far each model's search index is built."""

    states: list[SearchIndexState]


class StructureRequest(Request):
    video: Ref = Field(description="Video id (or prefix), path or file name.")


class SearchRequest(Request):
    model_config = ConfigDict(
        extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64"
    )

    query: SearchQuery
    image_data: bytes | None = Field(
        None, description="The query image itself (its path is query.image otherwise)."
    )


class RefineRequest(Request):
    search_id: Ref
    positive: list[Ref] | None = Field(None, max_length=MAX_LIST_ITEMS)
    negative: list[Ref] | None = Field(None, max_length=MAX_LIST_ITEMS)
    text: list[QueryText] | None = Field(None, max_length=MAX_LIST_ITEMS)
    negative_text: list[QueryText] | None = Field(None, max_length=MAX_LIST_ITEMS)
    limit: int | None = Field(None, ge=1, le=LIMIT_MAX)
    include_judged: bool = False
    rerank: int = Field(0, ge=0, le=RERANK_MAX, description="The VLM judges and reorders.")
    explain: bool = Field(False, description="The VLM says why each top hit fits.")


class CaptionRequest(Request):
    videos: list[Ref] | None = Field(
        None, max_length=MAX_LIST_ITEMS, description="Every shot of these videos (None: all)."
    )
    shot_ids: list[Ref] | None = Field(
        None, max_length=MAX_LIST_ITEMS, description="These shots instead of whole videos."
    )
    budget_seconds: float | None = Field(
        None, gt=0, description="Stop judging after this long (what is done is kept)."
    )


class StepProgress(BaseModel):
    """A long operation's step: the VLM judging or captioning shot after shot."""

    done: int
    total: int
    step: str


class EvalRequest(Request):
    log: str = Field(max_length=MAX_REF_CHARS, description="The time-coded log (CSV or TSV).")
    tolerance: float = Field(0.0, ge=0)
    compare: bool = False
    mode: SearchMode = "clip"
    rerank: int = Field(0, ge=0, le=RERANK_MAX)


class SelectsRequest(Request):
    """Shots leaving shotseek (an export, clips): a search's hits or shots by id, and how."""

    search_id: Ref | None = Field(None, description="This search's hits.")
    shot_ids: list[Ref] | None = Field(
        None, max_length=MAX_LIST_ITEMS, description="Or these shots, in this order."
    )
    top: int | None = Field(None, ge=1, le=LIMIT_MAX, description="Only the first N.")
    order: ExportOrder = Field("rank", description="rank, or source: by file and time.")
    handles: Ref = Field("0", description="Added around each shot: seconds (1s) or frames (12f).")

    def selection(self) -> dict:
        """The arguments of :func:`shotseek.pipeline.export.gather`."""
        return {
            "search_id": self.search_id,
            "shot_ids": list(self.shot_ids) if self.shot_ids else None,
            "top": self.top,
            "order": self.order,
            "handles": self.handles,
        }


class ExportRequest(SelectsRequest):
    format: ExportFormat = Field(description="otio, edl, fcp-xml, fcpxml, mlt or csv.")
    gap: Ref = Field("0", description="Between clips: seconds or frames.")
    output: Ref | None = Field(
        None, description="The file to write (the CLI); none: the data directory's exports."
    )
    title: QueryText | None = Field(None, description="The timeline's name.")


class ClipRequest(SelectsRequest):
    mode: ClipMode = Field("exact", description="exact: re-encoded to the frame; fast: copied.")
    burn_timecode: bool = Field(False, description="The source timecode burnt into the picture.")
    reel: bool = Field(False, description="One file of all the shots, one after another.")
    folder: Ref | None = Field(
        None, description="Where to write (the CLI); none: the data directory's clips."
    )


@dataclass(frozen=True)
class Spec:
    """An operation as a door sees it: its name, request, result and progress events."""

    name: str
    request: type[BaseModel]
    result: type[BaseModel]
    progress: type[BaseModel] | None = None


#: Every operation, by name.
SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in [
        Spec("index", IndexRequest, IndexReport, ProgressEvent),
        Spec("start_index", IndexRequest, IndexJob),
        Spec("index_status", JobRequest, IndexJob),
        Spec("cancel_index", JobRequest, IndexJob),
        Spec("forget_video", ForgetRequest, Forgotten),
        Spec("videos", VideosRequest, VideoList),
        Spec("index_states", NoRequest, IndexStates),
        Spec("structure", StructureRequest, VideoStructure),
        Spec("search", SearchRequest, SearchResult, StepProgress),
        Spec("refine", RefineRequest, SearchResult, StepProgress),
        Spec("caption", CaptionRequest, CaptionReport, StepProgress),
        Spec("eval", EvalRequest, EvalReport),
        Spec("export", ExportRequest, ExportReport),
        Spec("clip", ClipRequest, ClipReport, StepProgress),
    ]
}
