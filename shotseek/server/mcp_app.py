"""shotseek's MCP server: index footage, search it by meaning, refine with feedback.

Plain module-level functions are the tools: the name comes from the function, the description
from its docstring, the input schema from the type hints, the output schema from the pydantic
return type. :data:`TOOLS` adds each one's title and annotations, and :func:`create_server` makes
the schemas strict (no unknown arguments, no ``"5"`` read as 5) and complete (computed fields
such as ``start_tc`` are listed). Heavy objects (store, encoder, jobs) are opened once per process
and reached through the typed lifespan context. Pipeline work runs on worker threads, so a long
indexing job never blocks another client's search. Errors are raised: shotseek's own become tool
errors whose message says what to do.
"""

from __future__ import annotations

import base64
import binascii
import functools
import inspect
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.server.mcpserver.prompts import Prompt as McpPrompt
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult, ImageContent, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shotseek.ops.archive import Archive
from shotseek.ops.operations import OPERATIONS
from shotseek.ops.requests import (
    CaptionRequest,
    ForgetRequest,
    Forgotten,
    IndexRequest,
    JobRequest,
    RefineRequest,
    SearchRequest,
    StructureRequest,
    VideoList,
    VideosRequest,
)
from shotseek.pipeline import catalog, history, thumbnails
from shotseek.pipeline.config import (
    DEFAULT_IMAGE_WEIGHT,
    DEFAULT_LIMIT,
    FPS_MAX,
    FPS_MIN,
    JOB_PAGE_MAX,
    MAX_LIST_ITEMS,
    MCP_LIMIT_MAX,
    RERANK_MAX,
    Settings,
)
from shotseek.pipeline.errors import QueryError, ShotseekError
from shotseek.pipeline.jobs import IndexJobs
from shotseek.pipeline.media import confine
from shotseek.pipeline.models import (
    CaptionReport,
    IndexJob,
    QueryText,
    Ref,
    SearchHit,
    SearchMode,
    SearchQuery,
    SearchResult,
    VideoStructure,
)
from shotseek.pipeline.prompts import prompt as prompt_template
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)

MAX_SEPARATE_THUMBNAILS = 6
MAX_SHEET_THUMBNAILS = 24

try:
    VERSION = version("shotseek")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    VERSION = "0+unknown"

INSTRUCTIONS = """\
shotseek finds shots in video footage by meaning (CLIP embeddings), with exact timecodes.

How the tools chain:
1. index_video(path) indexes a file or folder under the server's media roots (a relative path
   is taken from the media roots, in every tool). Long runs continue in the background: poll
   index_status(job_id) until state is "finished"; its results come a page at a time
   (next_offset). Jobs run one at a time ("queued" until their turn); cancel_index(job_id)
   stops one, forget_video(video) removes a video's shots from the archive.
2. search_shots(text=..., image=..., image_base64=...) returns ranked shots: video path,
   start/end in seconds and HH:MM:SS.mmm, scene and class, score, and thumbnails to look at.
3. Look at the thumbnails. Then refine_search(search_id, positive=[shot ids that fit],
   negative=[shot ids that do not], text=..., negative_text=...) to steer; feedback accumulates
   across a chain of refinements, and judged shots are not shown again.
4. list_videos() and get_video_structure(video) browse the archive: each video's semantic
   classes (looks that recur), scenes (runs of one class) and shots.
5. When a local vision-language model runs (Ollama), search_shots(rerank=N) has it look at the
   top N shots, judge each against the text and reorder them (explain=true keeps the order and
   adds its reasons), and caption_shots(shot_ids) stores what each shot shows, which
   search_shots(mode="caption" or "hybrid") then searches by words. Without it these calls
   still return the CLIP hits, with a note saying what to fix.

Scores are cosine similarities: compare them within one search, not across models or between
text and image queries. When no_good_match is true, even the best shot scores well below what
this kind of search usually reaches in this archive: say that the footage probably does not
contain what was asked, rather than presenting the best of a bad lot.
"""


# -- the lifespan context ----------------------------------------------------------------------


@dataclass
class AppContext:
    """What every tool reaches through ``ctx``: the settings, and the store and job runner
    (None while the store cannot be opened, with the reason in ``unavailable``)."""

    settings: Settings
    store: ShotStore | None = None
    jobs: IndexJobs | None = None
    unavailable: str | None = None


class SharedContext:
    """One store and one job runner per process, whatever the number of client sessions
    (streamable HTTP opens a session per client; the embedded store allows one opener).

    A store that cannot be opened (e.g. another process holds the embedded one) does not stop
    the server: the session starts, and every tool answers with the reason, trying to open the
    store again on each call."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = AppContext(settings)
        self._lock = threading.Lock()
        self._closed = False

    def get(self) -> AppContext:
        with self._lock:
            if self._closed:
                return AppContext(self.settings, unavailable="the server is shutting down")
            if self._context.store is None:
                try:
                    store = ShotStore(self.settings)
                except ShotseekError as exc:
                    self._context.unavailable = str(exc)
                    log.error("%s", exc)
                else:
                    jobs = IndexJobs(store, _load_encoder, self.settings.job_keep_seconds)
                    self._context = AppContext(self.settings, store, jobs)
            return self._context

    @property
    def current(self) -> AppContext:
        """The context as it is now, without trying to open the store."""
        return self._context

    def close(self) -> None:
        """Cancel the index jobs (what they stored stays), then close the store; nothing opens
        it again afterwards."""
        with self._lock:
            self._closed = True
            context = self._context
            self._context = AppContext(self.settings, unavailable="the server is shutting down")
        if context.jobs is not None:
            context.jobs.close()
        if context.store is not None:
            context.store.close()


def _load_encoder(settings: Settings):
    from shotseek.pipeline.encoder import get_encoder

    return get_encoder(settings)


async def _ready(ctx: Context[SharedContext, Any]) -> Archive:
    """The archive the operations work on (store and job queue), or a tool error saying why it
    is not there."""
    shared: SharedContext = ctx.request_context.lifespan_context
    app = shared.current
    if app.store is None:  # not open (yet): try again, off the event loop
        app = await anyio.to_thread.run_sync(shared.get)
    if app.store is None or app.jobs is None:
        raise ToolError(app.unavailable or "the store is not open")
    return Archive(app.settings, app.store, app.jobs)


async def _do(name: str, archive: Archive, request: BaseModel) -> Any:
    """An operation, on a worker thread (never on the event loop)."""
    operation = OPERATIONS[name]
    return await anyio.to_thread.run_sync(lambda: operation(archive, request))


def _user_errors(fn: Callable) -> Callable:
    """shotseek's own errors reach the model as tool errors with their message (the SDK would
    report any other exception as a bare 'Error executing tool')."""

    @functools.wraps(fn)
    async def tool(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except ShotseekError as exc:
            raise ToolError(str(exc)) from exc

    return tool


def _media_ref(app: Archive, ref: str) -> str:
    """One rule for every tool: a reference that is a path is confined to the media roots, and
    a relative one is taken from them; ids and bare file names pass as they are."""
    if "/" not in ref and "\\" not in ref:
        return ref
    return str(confine(ref, app.settings.media_root_paths))


# -- replies -----------------------------------------------------------------------------------


class McpSearchQuery(SearchQuery):
    """The query as an MCP client can ask it (fewer hits a reply)."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MCP_LIMIT_MAX)


class McpSearchResult(SearchResult):
    """A search result as the MCP tools return it."""

    query: McpSearchQuery


def _hit_line(hit: SearchHit) -> str:
    shot = hit.shot
    line = (
        f"#{hit.rank} score {hit.score:.3f}: {shot.path.rsplit('/', 1)[-1]} "
        f"{shot.start_tc}-{shot.end_tc} (shot {shot.shot_id})"
    )
    if hit.judged_by:
        verdict = "fits" if hit.match else "does not fit"
        line += f"; VLM: {verdict} ({hit.relevance:.2f}): {hit.explanation}"
    if hit.caption:
        line += f"; caption: {hit.caption}"
    return line


def _thumbnail_content(
    settings: Settings, result: SearchResult
) -> list[ImageContent | TextContent]:
    """Thumbnails as image content: one each for a few hits, a contact sheet for many. Only
    files under the data directory are read, whatever a payload says."""
    found = [(h, thumbnails.trusted_thumbnail(settings, h.shot.thumbnail)) for h in result.hits]
    found = [(h, p) for h, p in found if p is not None]
    if not found:
        return []
    if len(found) <= MAX_SEPARATE_THUMBNAILS:
        content: list[ImageContent | TextContent] = []
        for hit, path in found:
            data = base64.b64encode(path.read_bytes()).decode()
            content.append(TextContent(type="text", text=_hit_line(hit)))
            content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
        return content
    found = found[:MAX_SHEET_THUMBNAILS]
    sheet = thumbnails.contact_sheet([p for _, p in found], [f"#{h.rank}" for h, _ in found])
    return [
        TextContent(type="text", text="Contact sheet, ranks left to right, top to bottom:"),
        ImageContent(type="image", data=base64.b64encode(sheet).decode(), mime_type="image/jpeg"),
    ]


def _result_reply(
    settings: Settings, result: SearchResult, include_thumbnails: bool
) -> CallToolResult:
    lines = [f"search_id {result.search_id}: {len(result.hits)} shots"]
    if result.note:
        lines.append(result.note)
    lines += [_hit_line(h) for h in result.hits]
    content: list[Any] = [TextContent(type="text", text="\n".join(lines))]
    if include_thumbnails:
        content += _thumbnail_content(settings, result)
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def _job_reply(job: IndexJob) -> CallToolResult:
    c = job.counts
    total = "?" if job.files_total is None else str(job.files_total)
    lines = [
        f"job {job.job_id}: {job.state}; {job.files_done} of {total} files done "
        f"({c.indexed} indexed, {c.skipped} skipped, {c.failed} failed)"
    ]
    lines += [f"failed: {f.path}: {f.reason}" for f in job.failures[:5]]
    if job.next_offset is not None:
        lines.append(f"more results: index_status(job_id, offset={job.next_offset})")
    return CallToolResult(
        content=[TextContent(type="text", text="\n".join(lines))],
        structured_content=job.model_dump(mode="json"),
    )


# -- the tools ---------------------------------------------------------------------------------

ShotIds = Annotated[
    list[Ref] | None, Field(max_length=MAX_LIST_ITEMS, description="Shot ids from the hits.")
]
Texts = Annotated[list[QueryText] | None, Field(max_length=MAX_LIST_ITEMS)]
VideoRef = Annotated[
    Ref, Field(description="Video id (or prefix), file name, or path (relative: from the roots).")
]


@_user_errors
async def index_video(
    path: Annotated[
        Ref,
        Field(
            description="A video file or a folder (searched recursively) under the server's "
            "media roots; a relative path is taken from the media roots."
        ),
    ],
    ctx: Context[SharedContext, Any],
    fps: Annotated[
        float | None,
        Field(
            ge=FPS_MIN,
            le=FPS_MAX,
            description="Frames sampled per second (default from the server's settings).",
        ),
    ] = None,
    force: Annotated[bool, Field(description="Re-index files already indexed.")] = False,
    wait_seconds: Annotated[
        float | None,
        Field(
            ge=0,
            le=600,
            description="How long to wait for the job before answering with its id "
            "(default from the server's settings).",
        ),
    ] = None,
) -> Annotated[CallToolResult, IndexJob]:
    """Index videos so they can be searched: sample frames, embed them, find semantic
    classes, scenes and shots, store them. Sends progress notifications. When the job takes
    longer than wait_seconds it continues in the background: poll index_status(job_id).
    Files already indexed with the same settings are skipped; a broken file is reported
    with its reason and the others are indexed. The answer summarises: counts, the first
    failures, and a page of per-file results."""
    app = await _ready(ctx)
    target = await anyio.to_thread.run_sync(confine, path, app.settings.media_root_paths)
    request = IndexRequest(paths=[str(target)], force=force, within_media_roots=True)
    job = await _do("start_index", app.with_settings(app.settings.merged(fps=fps)), request)
    assert app.jobs is not None
    events = app.jobs.listen(job.job_id)
    wait = app.settings.index_wait_seconds if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    sent = -1.0
    try:
        while time.monotonic() < deadline:
            try:
                event = await anyio.to_thread.run_sync(
                    lambda: events.get(timeout=min(0.5, max(0.01, deadline - time.monotonic())))
                )
            except queue.Empty:
                continue
            if event is None:
                break
            done = event.file_number - 1 + (event.done / event.total if event.total else 0.0)
            done = min(round(done, 4), float(event.file_count))
            if done > sent:  # progress values must strictly increase
                sent = done
                await ctx.report_progress(
                    progress=done,
                    total=float(event.file_count),
                    message=f"{event.path.rsplit('/', 1)[-1]}: {event.stage}",
                )
    finally:  # the job goes on; nobody reads this queue any more
        app.jobs.unlisten(job.job_id, events)
    return _job_reply(app.jobs.get(job.job_id))


@_user_errors
async def index_status(
    job_id: Annotated[Ref, Field(description="The job_id index_video answered with.")],
    ctx: Context[SharedContext, Any],
    offset: Annotated[
        int, Field(ge=0, description="First per-file result to return (next_offset).")
    ] = 0,
    limit: Annotated[
        int, Field(ge=1, le=JOB_PAGE_MAX, description="Per-file results in this page.")
    ] = JOB_PAGE_MAX,
) -> Annotated[CallToolResult, IndexJob]:
    """Progress of an indexing job: state, the file being worked on, counts, the first
    failures, and a page of per-file results (indexed, skipped, or failed with the reason)."""
    app = await _ready(ctx)
    request = JobRequest(job_id=job_id, offset=offset, limit=limit)
    return _job_reply(await _do("index_status", app, request))


@_user_errors
async def cancel_index(
    job_id: Annotated[Ref, Field(description="The job_id index_video answered with.")],
    ctx: Context[SharedContext, Any],
) -> Annotated[CallToolResult, IndexJob]:
    """Stop an indexing job: a queued one never starts, a running one stops at its next step.
    Videos it finished stay indexed; the one it was on is left as it was before the job."""
    app = await _ready(ctx)
    return _job_reply(await _do("cancel_index", app, JobRequest(job_id=job_id)))


@_user_errors
async def forget_video(
    video: VideoRef,
    ctx: Context[SharedContext, Any],
) -> Forgotten:
    """Remove a video from the archive: its shots, thumbnails and captions, under every model.
    The file itself is not touched; index it again to bring it back."""
    app = await _ready(ctx)
    ref = await anyio.to_thread.run_sync(_media_ref, app, video)
    return await _do("forget_video", app, ForgetRequest(video=ref))


@_user_errors
async def search_shots(
    ctx: Context[SharedContext, Any],
    text: Annotated[QueryText | None, Field(description="What to find, in words.")] = None,
    image: Annotated[
        Ref | None,
        Field(description="Path of a still under the media roots that looks like what is wanted."),
    ] = None,
    image_base64: Annotated[
        str | None,
        Field(
            max_length=70 * 2**20,
            description="The still itself, base64-encoded (JPEG, PNG, WebP...).",
        ),
    ] = None,
    image_weight: Annotated[
        float,
        Field(
            ge=0.0, le=1.0, description="With text and an image, the image's share of the query."
        ),
    ] = DEFAULT_IMAGE_WEIGHT,
    videos: Annotated[
        list[Ref] | None,
        Field(
            max_length=MAX_LIST_ITEMS,
            description="Limit to these videos (ids, paths or file names).",
        ),
    ] = None,
    after: Annotated[
        float | None, Field(ge=0, description="Only shots ending after this many seconds.")
    ] = None,
    before: Annotated[
        float | None, Field(ge=0, description="Only shots starting before this many seconds.")
    ] = None,
    limit: Annotated[int, Field(ge=1, le=MCP_LIMIT_MAX, description="How many shots.")] = (
        DEFAULT_LIMIT
    ),
    per_video: Annotated[
        int | None, Field(ge=1, description="At most this many shots per video.")
    ] = None,
    min_score: Annotated[float | None, Field(description="Drop shots scoring less.")] = None,
    include_thumbnails: Annotated[
        bool, Field(description="Attach thumbnails as images (a contact sheet for many hits).")
    ] = True,
    mode: Annotated[
        SearchMode,
        Field(
            description="clip: the pictures (default); caption: BM25 over the captions the "
            "VLM wrote (captioned shots only); hybrid: both rankings fused."
        ),
    ] = "clip",
    rerank: Annotated[
        int,
        Field(
            ge=0,
            le=RERANK_MAX,
            description="The vision-language model looks at this many top hits, judges each "
            "against the text and reorders them (needs Ollama; slow: seconds a shot).",
        ),
    ] = 0,
    explain: Annotated[
        bool,
        Field(description="The vision-language model says why each top hit fits (order kept)."),
    ] = False,
) -> Annotated[CallToolResult, McpSearchResult]:
    """Search the indexed footage by text, by image, or both, and get ranked shots with
    timecodes, scores and thumbnails. Keep the search_id to refine the search. With rerank or
    explain, a vision-language model checks the top hits; if it is unavailable the CLIP hits
    still come back, with a note saying what to fix."""
    app = await _ready(ctx)
    image_bytes = None
    if image_base64:
        try:  # ordinary line-wrapped base64 (76 columns) is accepted
            image_bytes = base64.b64decode("".join(image_base64.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise QueryError(f"image_base64 is not valid base64: {exc}") from exc
    image_path = str(confine(image, app.settings.media_root_paths)) if image else None
    query = SearchQuery(
        text=text,
        image=image_path,
        image_weight=image_weight,
        videos=[_media_ref(app, v) for v in videos] if videos else None,
        after=after,
        before=before,
        limit=limit,
        per_video=per_video,
        min_score=min_score,
        mode=mode,
        rerank=rerank,
        explain=explain,
    )
    result = await _do("search", app, SearchRequest(query=query, image_data=image_bytes))
    return _result_reply(app.settings, result, include_thumbnails)


@_user_errors
async def refine_search(
    search_id: Annotated[Ref, Field(description="The search_id of an earlier search.")],
    ctx: Context[SharedContext, Any],
    positive: Annotated[ShotIds, Field(description="Shot ids that fit: more like these.")] = None,
    negative: Annotated[ShotIds, Field(description="Shot ids that do not: less like these.")] = (
        None
    ),
    text: Annotated[Texts, Field(description="Extra words for what is wanted.")] = None,
    negative_text: Annotated[Texts, Field(description="Words for what is not wanted.")] = None,
    limit: Annotated[
        int | None,
        Field(ge=1, le=MCP_LIMIT_MAX, description="How many shots (default: as the search)."),
    ] = None,
    include_thumbnails: Annotated[
        bool, Field(description="Attach thumbnails as images (a contact sheet for many hits).")
    ] = True,
) -> Annotated[CallToolResult, McpSearchResult]:
    """Refine a search with relevance feedback. Feedback accumulates along a chain of
    refinements; shots already judged are not returned again."""
    app = await _ready(ctx)

    if limit is None:  # as the search, within what an MCP reply carries
        parent = await anyio.to_thread.run_sync(history.load_search_record, app.settings, search_id)
        limit = min(parent.result.query.limit, MCP_LIMIT_MAX)
    request = RefineRequest(
        search_id=search_id,
        positive=positive,
        negative=negative,
        text=text,
        negative_text=negative_text,
        limit=limit,
    )
    result = await _do("refine", app, request)
    return _result_reply(app.settings, result, include_thumbnails)


@_user_errors
async def list_videos(ctx: Context[SharedContext, Any]) -> VideoList:
    """The indexed videos: id, path, duration, counts of classes, scenes and shots, model."""
    app = await _ready(ctx)
    return await _do("videos", app, VideosRequest())


@_user_errors
async def get_video_structure(
    video: VideoRef,
    ctx: Context[SharedContext, Any],
) -> VideoStructure:
    """One video's hierarchy: semantic classes (looks that recur) → scenes (runs of one
    class) → shots, each with start/end seconds and timecodes, shot id, and how its start was
    found (`boundary`: cut or dissolve on the exact frame, or content change inside one camera
    shot)."""
    app = await _ready(ctx)
    ref = await anyio.to_thread.run_sync(_media_ref, app, video)
    return await _do("structure", app, StructureRequest(video=ref))


@_user_errors
async def caption_shots(
    shot_ids: Annotated[
        list[Ref],
        Field(min_length=1, max_length=MAX_LIST_ITEMS, description="Shot ids from a search."),
    ],
    ctx: Context[SharedContext, Any],
) -> CaptionReport:
    """Have the vision-language model (Ollama) say what each shot shows: setting, people,
    objects, actions, on-screen text, shot type. Captions are stored: a shot is captioned once
    per model and prompt, later calls read it back, and caption search (mode "caption" or
    "hybrid" in search_shots) finds shots by these words."""
    app = await _ready(ctx)
    budget = app.settings.vlm_budget_seconds  # an MCP call never waits past it
    return await _do("caption", app, CaptionRequest(shot_ids=shot_ids, budget_seconds=budget))


_READS = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
#: Every tool, with its title and how it behaves (MCP tool annotations).
TOOLS: list[tuple[Callable, str, ToolAnnotations]] = [
    (
        index_video,
        "Index videos",
        ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
    ),
    (index_status, "Indexing job status", _READS),
    # stops a job: what it stored stays; nothing else changes
    (
        cancel_index,
        "Cancel an indexing job",
        ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
    ),
    (
        forget_video,
        "Forget a video",
        ToolAnnotations(
            readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
        ),
    ),
    # a search records itself for refine (and calibration), but changes nothing a user sees
    (search_shots, "Search shots", _READS.model_copy(update={"idempotentHint": False})),
    (refine_search, "Refine a search", _READS.model_copy(update={"idempotentHint": False})),
    (list_videos, "List indexed videos", _READS),
    (get_video_structure, "Video structure", _READS),
    # writes captions into the store, once per shot, model and prompt; asks a local model
    (
        caption_shots,
        "Caption shots",
        ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        ),
    ),
]


def _strict(tool: Tool) -> Tool:
    """The tool with strict, complete schemas: unknown arguments and silent coercions are
    refused, the description is dedented, and the output schema lists computed fields."""
    base = tool.fn_metadata.arg_model
    strict = type(
        base.__name__,
        (base,),
        {
            "model_config": ConfigDict(arbitrary_types_allowed=True, extra="forbid", strict=True),
            "__module__": __name__,
        },
    )
    tool.fn_metadata.arg_model = strict
    output = tool.fn_metadata.output_model
    if output is not None:
        tool.fn_metadata.output_schema = TypeAdapter(output).json_schema(mode="serialization")
    return tool.model_copy(
        update={
            "parameters": strict.model_json_schema(by_alias=True),
            "description": inspect.cleandoc(tool.description),
        }
    )


#: The prompts an agent can list (prompts/<kind>-v<N>.md, the newest of each kind).
PROMPTS = {
    "find-footage": "Find footage: search, look, refine, explain",
    "compare-search": "Compare embedding search with caption search",
}


def _mcp_prompt(kind: str) -> McpPrompt:
    template = prompt_template(kind)

    def render(request: str) -> str:
        return template.render(request=request)

    made = McpPrompt.from_function(
        render,
        name=kind,
        title=PROMPTS[kind],
        description=f"{PROMPTS[kind]} ({template.name}); request: what footage is wanted.",
    )
    return made


def create_server(shared: SharedContext) -> MCPServer:
    """The MCP server over one process-wide store and job runner (close ``shared`` after)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[SharedContext]:
        await anyio.to_thread.run_sync(shared.get)  # open the store now; errors reach tools
        yield shared

    tools = [
        _strict(Tool.from_function(fn, title=title, annotations=annotations))
        for fn, title, annotations in TOOLS
    ]
    mcp = MCPServer(
        name="shotseek",
        title="shotseek",
        version=VERSION,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        log_level="WARNING",
        tools=tools,
    )
    for kind in PROMPTS:
        mcp.add_prompt(_mcp_prompt(kind))
    mcp.resource(
        "shotseek://shots/{shot_id}/thumbnail",
        mime_type="image/jpeg",
        description="The keyframe of a shot (the frame nearest its mean embedding), as JPEG.",
    )(shot_thumbnail)
    mcp.resource(
        "shotseek://videos/{video}/structure",
        mime_type="application/json",
        description="One video's classes → scenes → shots (video id, path or file name).",
    )(video_structure_resource)
    return mcp


# -- resources ---------------------------------------------------------------------------------


async def _ready_for_resource(ctx: Context[SharedContext, Any]) -> Archive:
    try:
        return await _ready(ctx)
    except ToolError as exc:
        raise ResourceError(str(exc)) from exc


async def shot_thumbnail(shot_id: str, ctx: Context[SharedContext, Any]) -> bytes:
    app = await _ready_for_resource(ctx)

    def read() -> bytes:
        shot = None
        try:
            model_id = catalog.reader_model(app.store, app.settings).model_id
            shot = app.store.get_shots(model_id, [shot_id]).get(shot_id)
        except ShotseekError as exc:
            raise ResourceError(str(exc)) from exc
        path = thumbnails.trusted_thumbnail(app.settings, shot.thumbnail if shot else None)
        if path is None:
            raise ResourceError(
                f"no thumbnail for shot {shot_id[:80]}; use a shot_id from a search or from "
                "get_video_structure"
            )
        return path.read_bytes()

    return await anyio.to_thread.run_sync(read)


async def video_structure_resource(video: str, ctx: Context[SharedContext, Any]) -> str:
    app = await _ready_for_resource(ctx)

    def read() -> str:
        try:
            return catalog.video_structure(app.store, app.settings, video).model_dump_json()
        except ShotseekError as exc:
            raise ResourceError(str(exc)) from exc

    return await anyio.to_thread.run_sync(read)
