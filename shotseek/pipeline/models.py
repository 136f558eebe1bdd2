"""Pydantic data types shared by the pipeline, the CLI and the MCP server.

Time has one representation everywhere: seconds as floats, measured from the video's first
presented frame using the decoder's presentation timestamps, and rendered ``HH:MM:SS.mmm``
(:mod:`shotseek.pipeline.timecode` has frames and SMPTE timecode).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    model_validator,
)

from shotseek.pipeline.config import (
    DEFAULT_IMAGE_WEIGHT,
    DEFAULT_LIMIT,
    JOB_FAILURES_SHOWN,
    LIMIT_MAX,
    MAX_LIST_ITEMS,
    MAX_REF_CHARS,
    MAX_TEXT_CHARS,
    RERANK_MAX,
    SEQUENCE_STEPS_MAX,
    SEQUENCE_WITHIN_MAX,
    SEQUENCE_WITHIN_S,
)
from shotseek.pipeline.timecode import SourceClock, format_timecode

#: Namespace of the deterministic ids of shots and video records.
ID_NAMESPACE = uuid.UUID("5f0c1e3a-8d2b-4c6e-9a1f-3b7d2e4c6a80")


def validation_message(exc: Exception) -> str:
    """A pydantic validation error as one line: ``field: problem; field: problem``."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = []
        for e in errors():
            where = ".".join(map(str, e.get("loc", ()))) or "value"
            parts.append(f"{where}: {e['msg']}")
        return "; ".join(parts)
    return str(exc)


def _printable(value: str) -> str:
    """Refuse NUL and other control characters: no file name, id or query holds them."""
    bad = next((c for c in value if ord(c) < 32 and c not in "\t\n\r" or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"contains the control character {bad!r} (U+{ord(bad):04X}); remove it")
    return value


#: A path, id, file name or other reference: non-empty, bounded, printable.
Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_REF_CHARS),
    AfterValidator(_printable),
]
#: Words of a query: bounded and printable (CLIP itself reads the first 77 tokens).
QueryText = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS), AfterValidator(_printable)]


class Span(BaseModel):
    """A stretch of a video, ``start`` inclusive to ``end`` exclusive, in seconds."""

    model_config = ConfigDict(frozen=True)

    start: float = Field(ge=0, description="Start in seconds from the first frame.")
    end: float = Field(ge=0, description="End in seconds from the first frame.")

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end < self.start:
            raise ValueError(f"a span cannot end ({self.end}) before it starts ({self.start})")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def start_tc(self) -> str:
        return format_timecode(self.start)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def end_tc(self) -> str:
        return format_timecode(self.end)

    @property
    def duration(self) -> float:
        return self.end - self.start

    def __str__(self) -> str:
        return f"{self.start_tc}-{self.end_tc}"


class VideoInfo(BaseModel):
    """What probing a video file found: validated before any work is done on it."""

    model_config = ConfigDict(frozen=True)

    path: str
    size_bytes: int
    container: str = Field(description="FFmpeg's name of the container format.")
    codec: str
    width: int = Field(description="Displayed width, after rotation metadata is applied.")
    height: int = Field(description="Displayed height, after rotation metadata is applied.")
    rotation: int = Field(description="Counter-clockwise rotation applied for display, degrees.")
    duration: float = Field(description="Seconds, from the container or stream header.")
    duration_is_video: bool = Field(
        True,
        description="The duration is the video stream's own; else the container's, which a "
        "longer stream (audio outlasting the picture) lengthens: not a sign of truncation.",
    )
    average_fps: float | None = Field(description="Average frame rate from the header, if any.")
    frame_count: int | None = Field(description="Frame count from the header, when it has one.")
    clock: SourceClock | None = Field(
        None, description="Exact frame rate and embedded start timecode: how editors count it."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_tc(self) -> str:
        return format_timecode(self.duration)


class VideoRecord(BaseModel):
    """One indexed video, as stored with its shots."""

    video_id: str = Field(description="Content hash of the file: survives moves and renames.")
    path: str = Field(description="Absolute path the video was last indexed from.")
    file_name: str
    size_bytes: int
    duration: float = Field(description="Seconds.")
    width: int
    height: int
    fps_sampled: float
    frame_count: int = Field(description="Frames sampled and embedded.")
    model_id: str
    settings_key: str = Field(description="Hash of the settings that shaped this index run.")
    run_id: str
    indexed_at: datetime
    n_classes: int
    n_scenes: int
    n_shots: int
    clock: SourceClock | None = Field(
        None, description="Frame rate and start timecode (absent: indexed by an older version)."
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_tc(self) -> str:
        return format_timecode(self.duration)


def shot_id_for(video_id: str, run_id: str, index: int) -> str:
    """Deterministic shot id: uuid5 of video, run and position."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{video_id}/{run_id}/{index}"))


class IndexedModel(BaseModel):
    """An embedding model that has shots in the store: its vectors are only compared with its
    own, and queries are embedded by the model rebuilt from ``spec``."""

    model_id: str
    dim: int
    spec: dict[str, str | None] = Field(
        default_factory=dict, description="How it was loaded: model, pretrained, checkpoint_tag."
    )


#: How a shot's start was found: the video's start, a camera cut (found on every frame), a
#: dissolve (one boundary at its middle), or a change of content inside one camera shot (a pan
#: from sea to town, found on the sampled frames' embeddings).
BoundaryKind = Literal["start", "cut", "dissolve", "content"]


class CameraBoundary(BaseModel):
    """A boundary between camera shots, at the first frame of the new one."""

    model_config = ConfigDict(frozen=True)

    time: float = Field(ge=0, description="Presentation time of the new shot's first frame.")
    kind: Literal["cut", "dissolve"]


class Shot(Span):
    """A shot: a stretch between camera cuts (or content changes) inside one semantic scene;
    its mean embedding is searched."""

    shot_id: str = Field(description="Stable within an index run: uuid5 of video, run, index.")
    video_id: str
    path: str = Field(description="The video file.")
    index: int = Field(description="0-based position of the shot in its video.")
    scene: int = Field(description="0-based scene index in the video.")
    class_index: int = Field(description="Semantic class of the shot's scene.")
    keyframe_time: float = Field(description="Seconds: the frame nearest the shot's mean.")
    thumbnail: str | None = Field(None, description="Path of the keyframe JPEG.")
    frame_count: int = Field(description="Sampled frames whose embeddings the shot averages.")
    source_tc: str | None = Field(
        None,
        description="Source timecode of the first frame, as editors show it (the file's "
        "embedded start timecode + frames; ';' drop-frame).",
    )
    boundary: BoundaryKind = Field(
        "content",
        description="How the shot's start was found: start, cut, dissolve or content (change "
        "of content inside one camera shot).",
    )


class SceneInfo(Span):
    """A semantic scene: a maximal run of frames of one class."""

    index: int
    class_index: int
    shots: list[Shot]


class ClassInfo(BaseModel):
    """A semantic class: frames that look alike wherever they are in the video."""

    index: int
    scenes: list[int] = Field(description="Indices of the scenes of this class, in time order.")
    seconds: float = Field(description="Total screen time of the class.")


class VideoStructure(BaseModel):
    """One video's hierarchy: classes → scenes → shots."""

    video: VideoRecord
    classes: list[ClassInfo]
    scenes: list[SceneInfo]


IndexStatus = Literal["indexed", "skipped", "failed"]


class IndexOutcome(BaseModel):
    """What happened to one file in an index run."""

    path: str
    status: IndexStatus
    video_id: str | None = None
    duration: float | None = None
    n_shots: int | None = None
    seconds: float = Field(0.0, description="Wall-clock time spent on this file.")
    reason: str | None = Field(None, description="Why it failed or was skipped.")


class IndexReport(BaseModel):
    """The outcome of indexing a batch of files and folders."""

    results: list[IndexOutcome]

    @property
    def failed(self) -> list[IndexOutcome]:
        return [r for r in self.results if r.status == "failed"]


class SearchIndexState(BaseModel):
    """How much of a model's shots the search index (HNSW) covers; the rest are searched
    exactly (fine for thousands of shots, slower past about 100,000)."""

    model_id: str
    shots: int = Field(description="Shot points in the store.")
    indexed: int = Field(description="Of which in the search index.")
    building: bool = Field(description="An index build is running now.")
    build_due: bool = Field(
        description="Enough shots are outside the index for a build to take them in (small "
        "remainders are searched exactly by design)."
    )


class MigrationReport(BaseModel):
    """What moving an older embedded store into Qdrant Edge did."""

    models: list[str] = Field(description="Embedding models whose shots were moved.")
    videos_copied: int
    videos_already_there: int = Field(description="Copied by an earlier, interrupted run.")
    shots_copied: int
    seconds: float
    old_store_kept_at: str = Field(description="The old folder, renamed; delete it when done.")


Stage = Literal[
    "probe", "sample", "analyse", "thumbnails", "store", "done", "skipped", "failed", "search index"
]


class ProgressEvent(BaseModel):
    """Progress of indexing one file, reported through a callback (and, stage "search index",
    of building the store's search index after the batch: ``path`` is then the store's)."""

    path: str
    file_number: int = Field(description="1-based position of the file in the batch.")
    file_count: int
    stage: Stage
    done: float = Field(0.0, description="Seconds of video processed in this stage.")
    total: float | None = Field(None, description="Seconds of video in this file, if known.")
    samples: int = Field(0, description="Frames sampled so far (stage 'sample').")


# -- search: what is asked, what is found ------------------------------------------------------


SearchMode = Literal["clip", "caption", "hybrid"]


class SearchQuery(BaseModel):
    """What was asked."""

    model_config = ConfigDict(extra="forbid")

    text: QueryText | None = None
    image: Ref | None = Field(None, description="Image file path, or 'bytes:<sha>' for data.")
    image_weight: float = Field(DEFAULT_IMAGE_WEIGHT, ge=0.0, le=1.0)
    videos: list[Ref] | None = Field(
        None, max_length=MAX_LIST_ITEMS, description="Video ids the search is limited to."
    )
    after: float | None = Field(None, ge=0, description="Only shots ending after this second.")
    before: float | None = Field(None, ge=0, description="Only shots starting before this second.")
    min_score: float | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=LIMIT_MAX)
    per_video: int | None = Field(None, ge=1, description="At most this many hits per video.")
    mode: SearchMode = Field(
        "clip",
        description="clip: CLIP similarity of the pictures; caption: BM25 over the captions "
        "the VLM wrote (captioned shots only); hybrid: both rankings fused (RRF).",
    )
    rerank: int = Field(
        0,
        ge=0,
        le=RERANK_MAX,
        description="The VLM judges this many top hits against the text and reorders them.",
    )
    explain: bool = Field(
        False, description="The VLM says of each top hit why it fits or not (order kept)."
    )
    then: list[QueryText] | None = Field(
        None,
        min_length=1,
        max_length=SEQUENCE_STEPS_MAX - 1,
        description="A sequence: what follows, step after step; each hit is then a run of "
        "shots in one video, one per step, in order.",
    )
    within: float = Field(
        SEQUENCE_WITHIN_S,
        gt=0,
        le=SEQUENCE_WITHIN_MAX,
        description="A sequence's steps: most seconds from one step's shot to the next's.",
    )


class Feedback(BaseModel):
    """Relevance feedback accumulated along a chain of refinements."""

    model_config = ConfigDict(extra="forbid")

    positive: list[Ref] = Field(default_factory=list)
    negative: list[Ref] = Field(default_factory=list)
    text: list[QueryText] = Field(default_factory=list)
    negative_text: list[QueryText] = Field(default_factory=list)

    def plus(self, other: Feedback) -> Feedback:
        def join(a: list[str], b: list[str]) -> list[str]:
            return list(dict.fromkeys([*a, *b]))

        return Feedback(
            positive=join(self.positive, other.positive),
            negative=join(self.negative, other.negative),
            text=join(self.text, other.text),
            negative_text=join(self.negative_text, other.negative_text),
        )


class SequenceStep(BaseModel):
    """One step of a sequence hit: what it asked and the shot that answers it."""

    text: str
    score: float = Field(description="CLIP similarity of the shot to the step.")
    shot: Shot


class SearchHit(BaseModel):
    """One shot found, with everything needed to show it."""

    rank: int
    score: float = Field(description="CLIP similarity (cosine) of the shot to the query.")
    shot: Shot
    caption: str | None = Field(None, description="What the VLM said the shot shows, if asked.")
    explanation: str | None = Field(
        None, description="The VLM's one-line reason the shot fits the query or does not."
    )
    match: bool | None = Field(None, description="The VLM's verdict: shows what was asked for.")
    relevance: float | None = Field(None, description="The VLM's relevance, 0 to 1.")
    judged_by: str | None = Field(None, description="VLM model and prompt that judged the hit.")
    steps: list[SequenceStep] | None = Field(
        None,
        description="A sequence query's run: a shot per step, in order (the hit's shot is the "
        "first; its score the mean of the steps').",
    )


class ShotCaption(BaseModel):
    """A shot's caption, or why there is none."""

    shot_id: str
    caption: str | None = None
    by: str = Field(description="VLM model and prompt, e.g. 'qwen2.5vl:7b caption-v1'.")
    cached: bool = Field(False, description="Read back from the store, no VLM request made.")
    error: str | None = None


class CaptionReport(BaseModel):
    """Captions of shots, in the order asked."""

    captions: list[ShotCaption]

    @property
    def failed(self) -> list[ShotCaption]:
        return [c for c in self.captions if c.error]


class SearchResult(BaseModel):
    """The answer to a search or a refinement."""

    search_id: str
    parent_id: str | None = None
    model_id: str
    query: SearchQuery
    feedback: Feedback = Field(default_factory=Feedback)
    hits: list[SearchHit]
    no_good_match: bool | None = Field(
        description="True when even the best hit scores well below what searches of this kind "
        "typically reach in this collection; null while that is still being learned."
    )
    typical_top_score: float | None = Field(
        None, description="The collection's typical best score for this kind of query."
    )
    note: str | None = None
    created_at: datetime


# -- index jobs (pipeline/jobs.py runs them) ---------------------------------------------------

JobState = Literal["queued", "listing", "running", "finished", "failed", "cancelled"]
ENDED_JOB_STATES: frozenset[str] = frozenset({"finished", "failed", "cancelled"})


class JobCounts(BaseModel):
    indexed: int = 0
    skipped: int = 0
    failed: int = 0


class IndexJob(BaseModel):
    """An indexing job, summarised: counts, first failures and one page of per-file results."""

    job_id: str
    state: JobState = Field(
        description="queued (behind other jobs), listing (finding files), running, finished, "
        "failed (the whole job) or cancelled (what was stored by then is kept)."
    )
    started_at: datetime
    finished_at: datetime | None = None
    files_total: int | None = Field(None, description="Files found; null while listing.")
    files_done: int = 0
    counts: JobCounts = Field(default_factory=JobCounts)
    current: ProgressEvent | None = Field(None, description="The latest progress event.")
    failures: list[IndexOutcome] = Field(
        default_factory=list, description=f"The first {JOB_FAILURES_SHOWN} files that failed."
    )
    results: list[IndexOutcome] = Field(
        default_factory=list, description="Per-file results from results_offset on."
    )
    results_offset: int = 0
    next_offset: int | None = Field(
        None, description="Pass as offset to index_status for the next page; null at the end."
    )
    error: str | None = Field(None, description="Why the whole job stopped, if it did.")


#: The formats selects export to (shotseek.pipeline.export), each with its file name ending.
ExportFormat = Literal["otio", "edl", "fcp-xml", "fcpxml", "mlt", "csv"]
EXPORT_SUFFIXES: dict[str, str] = {
    "otio": ".otio",
    "edl": ".edl",
    "fcp-xml": ".xml",
    "fcpxml": ".fcpxml",
    "mlt": ".mlt",
    "csv": ".csv",
}
#: A search's hits in rank order, or by file and time.
ExportOrder = Literal["rank", "source"]


class ExportReport(BaseModel):
    """What an export wrote."""

    format: ExportFormat
    files: list[str] = Field(description="The files written (an EDL: one per frame rate).")
    clips: int = Field(description="Shots exported.")
    title: str
    rates: list[str] = Field(description="The files' frame rates, as editors name them.")
    search_id: str | None = None
    notes: list[str] = Field(default_factory=list)


#: How a clip is cut: re-encoded to the frame, or the source's packets copied.
ClipMode = Literal["fast", "exact"]


class ClipFile(BaseModel):
    """One written clip: where it starts and ends in its source, as a player shows it."""

    path: str
    mode: ClipMode
    shot_id: str | None = Field(None, description="The shot (None: a reel of several).")
    source: str | None = Field(None, description="The source file.")
    start: float = Field(description="Source seconds of the first frame shown.")
    end: float = Field(description="Source seconds where it ends (exclusive).")
    source_in: str | None = Field(None, description="Source timecode of the first frame shown.")
    frames: int = Field(description="Frames shown.")
    audio: bool = Field(description="It has sound (the source's, cut to the same span).")
    note: str | None = None


class ClipReport(BaseModel):
    """The clips written."""

    clips: list[ClipFile]
    search_id: str | None = None
    notes: list[str] = Field(default_factory=list)
