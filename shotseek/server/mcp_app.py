"""shotseek's MCP server: index footage, search it by meaning, refine with feedback.

One MCPServer, plain functions: the tool name comes from the function, the description from its
docstring, the input schema from the type hints, the output schema from the pydantic return
type. Heavy objects (store, encoder, jobs) are opened once in the lifespan. Pipeline work runs on
worker threads, so a long indexing job never blocks another client's search. Errors are raised:
the SDK turns them into tool errors the model can read and act on.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, ImageContent, TextContent
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field

from shotseek.pipeline import catalog
from shotseek.pipeline import search as searching
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import get_encoder
from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.jobs import IndexJob, IndexJobs
from shotseek.pipeline.media import confine
from shotseek.pipeline.models import VideoRecord, VideoStructure
from shotseek.pipeline.search import QueryError, SearchQuery, SearchResult
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)

MAX_SEPARATE_THUMBNAILS = 6
MAX_SHEET_THUMBNAILS = 24

INSTRUCTIONS = """\
shotseek finds shots in video footage by meaning (CLIP embeddings), with exact timecodes.

How the tools chain:
1. index_video(path) indexes a file or folder under the server's media roots. Long runs continue
   in the background: poll index_status(job_id) until state is "finished".
2. search_shots(text=..., image=..., image_base64=...) returns ranked shots: video path,
   start/end in seconds and HH:MM:SS.mmm, scene and class, score, and thumbnails to look at.
3. Look at the thumbnails. Then refine_search(search_id, positive=[shot ids that fit],
   negative=[shot ids that do not], text=..., negative_text=...) to steer; feedback accumulates
   across a chain of refinements, and judged shots are not shown again.
4. list_videos() and get_video_structure(video) browse the archive: each video's semantic
   classes (looks that recur), scenes (runs of one class) and shots.

Scores are cosine similarities: compare them within one search, not across models or between
text and image queries. When no_good_match is true, even the best shot scores well below what
this kind of search usually reaches in this archive: say that the footage probably does not
contain what was asked, rather than presenting the best of a bad lot.
"""


@dataclass
class AppContext:
    settings: Settings
    store: ShotStore
    jobs: IndexJobs


class SharedContext:
    """One store and one job runner per process, whatever the number of client sessions
    (streamable HTTP opens a session per client; the embedded store allows one opener)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context: AppContext | None = None
        self._lock = threading.Lock()

    def get(self) -> AppContext:
        with self._lock:
            if self._context is None:
                store = ShotStore(self.settings)
                self._context = AppContext(self.settings, store, IndexJobs(store, get_encoder))
            return self._context

    def close(self) -> None:
        with self._lock:
            if self._context is not None:
                self._context.store.close()
                self._context = None


class VideoList(BaseModel):
    """The indexed videos."""

    videos: list[VideoRecord]


def _expected_errors(fn):
    """shotseek's own errors reach the model as tool errors with their message (the SDK would
    report any other exception as a bare 'Error executing tool')."""

    @functools.wraps(fn)
    async def tool(*args, **kwargs):
        try:
            return await fn(*args, **kwargs)
        except ShotseekError as exc:
            raise ToolError(str(exc)) from exc

    return tool


def _app(ctx: Context) -> AppContext:
    return ctx.request_context.lifespan_context


def _thumbnail_content(result: SearchResult) -> list[ImageContent | TextContent]:
    """Thumbnails as image content: one each for a few hits, a contact sheet for many."""
    hits = [h for h in result.hits if h.shot.thumbnail and Path(h.shot.thumbnail).is_file()]
    if not hits:
        return []
    if len(hits) <= MAX_SEPARATE_THUMBNAILS:
        content: list[ImageContent | TextContent] = []
        for hit in hits:
            data = base64.b64encode(Path(hit.shot.thumbnail).read_bytes()).decode()
            content.append(TextContent(type="text", text=_hit_line(hit)))
            content.append(ImageContent(type="image", data=data, mime_type="image/jpeg"))
        return content
    return [
        TextContent(type="text", text="Contact sheet, ranks left to right, top to bottom:"),
        ImageContent(
            type="image", data=_contact_sheet(hits[:MAX_SHEET_THUMBNAILS]), mime_type="image/jpeg"
        ),
    ]


def _hit_line(hit) -> str:
    shot = hit.shot
    return (
        f"#{hit.rank} score {hit.score:.3f}: {Path(shot.path).name} "
        f"{shot.start_tc}-{shot.end_tc} (shot {shot.shot_id})"
    )


def _contact_sheet(hits, columns: int = 4, width: int = 240) -> str:
    thumbs = [Image.open(h.shot.thumbnail).convert("RGB") for h in hits]
    height = max(round(t.height * width / t.width) for t in thumbs)
    rows = (len(thumbs) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * width, rows * height), (0, 0, 0))
    draw = ImageDraw.Draw(sheet)
    for i, (hit, thumb) in enumerate(zip(hits, thumbs)):
        x, y = (i % columns) * width, (i // columns) * height
        sheet.paste(thumb.resize((width, round(thumb.height * width / thumb.width))), (x, y))
        draw.rectangle((x, y, x + 34, y + 16), fill=(0, 0, 0))
        draw.text((x + 3, y + 2), f"#{hit.rank}", fill=(255, 255, 0))
    buf = io.BytesIO()
    sheet.save(buf, format="JPEG", quality=80)
    return base64.b64encode(buf.getvalue()).decode()


def _result_content(result: SearchResult, include_thumbnails: bool) -> CallToolResult:
    lines = [f"search_id {result.search_id}: {len(result.hits)} shots"]
    if result.note:
        lines.append(result.note)
    lines += [_hit_line(h) for h in result.hits]
    content: list[Any] = [TextContent(type="text", text="\n".join(lines))]
    if include_thumbnails:
        content += _thumbnail_content(result)
    return CallToolResult(content=content, structured_content=result.model_dump(mode="json"))


def create_server(shared: SharedContext) -> MCPServer:
    """The MCP server over one process-wide store and job runner (close ``shared`` after)."""

    @asynccontextmanager
    async def lifespan(_: MCPServer) -> AsyncIterator[AppContext]:
        yield await anyio.to_thread.run_sync(shared.get)

    mcp = MCPServer(
        name="shotseek", instructions=INSTRUCTIONS, lifespan=lifespan, log_level="WARNING"
    )

    @mcp.tool()
    @_expected_errors
    async def index_video(
        path: Annotated[
            str,
            Field(
                description="A video file or a folder (searched recursively) "
                "under the server's media roots."
            ),
        ],
        ctx: Context,
        fps: Annotated[
            float | None,
            Field(
                ge=0.05,
                le=30.0,
                description=(
                    "Frames sampled per second (default from the server's settings, usually 2)."
                ),
            ),
        ] = None,
        force: Annotated[bool, Field(description="Re-index files already indexed.")] = False,
        wait_seconds: Annotated[
            float | None,
            Field(
                ge=0,
                le=600,
                description=(
                    "How long to wait for the job before answering with its id (default 20 s)."
                ),
            ),
        ] = None,
    ) -> IndexJob:
        """Index videos so they can be searched: sample frames, embed them, find semantic
        classes, scenes and shots, store them. Sends progress notifications. When the job takes
        longer than wait_seconds it continues in the background: poll index_status(job_id).
        Files already indexed with the same settings are skipped; a broken file is reported
        with its reason in results and the others are indexed."""
        app = _app(ctx)
        roots = app.settings.media_root_paths
        target = confine(path, roots)
        run_settings = app.settings.merged(fps=fps)
        job = app.jobs.start([str(target)], run_settings, force=force, roots=roots)
        events = app.jobs.listen(job.job_id)
        wait = app.settings.index_wait_seconds if wait_seconds is None else wait_seconds
        deadline = time.monotonic() + wait
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
                await ctx.report_progress(
                    progress=min(done, float(event.file_count)),
                    total=float(event.file_count),
                    message=f"{Path(event.path).name}: {event.stage}",
                )
        finally:  # the job goes on; nobody reads this queue any more
            app.jobs.unlisten(job.job_id, events)
        return app.jobs.get(job.job_id)

    @mcp.tool()
    @_expected_errors
    async def index_status(
        job_id: Annotated[str, Field(description="The job_id index_video answered with.")],
        ctx: Context,
    ) -> IndexJob:
        """Progress of an indexing job: state, the file being worked on, and per-file results
        (indexed, skipped or failed with the reason)."""
        return _app(ctx).jobs.get(job_id)

    @mcp.tool()
    @_expected_errors
    async def search_shots(
        ctx: Context,
        text: Annotated[str | None, Field(description="What to find, in words.")] = None,
        image: Annotated[
            str | None,
            Field(
                description=(
                    "Path of a still under the media roots that looks like what is wanted."
                )
            ),
        ] = None,
        image_base64: Annotated[
            str | None,
            Field(description=("The still itself, base64-encoded (JPEG, PNG, WebP...).")),
        ] = None,
        image_weight: Annotated[
            float,
            Field(
                ge=0.0,
                le=1.0,
                description=("With text and an image, the image's share of the query."),
            ),
        ] = 0.5,
        videos: Annotated[
            list[str] | None,
            Field(description=("Limit to these videos (ids, paths or file names).")),
        ] = None,
        after: Annotated[
            float | None, Field(ge=0, description=("Only shots ending after this many seconds."))
        ] = None,
        before: Annotated[
            float | None, Field(ge=0, description=("Only shots starting before this many seconds."))
        ] = None,
        limit: Annotated[int, Field(ge=1, le=50, description="How many shots.")] = 10,
        per_video: Annotated[
            int | None, Field(ge=1, description=("At most this many shots per video."))
        ] = None,
        min_score: Annotated[float | None, Field(description="Drop shots scoring less.")] = None,
        include_thumbnails: Annotated[
            bool,
            Field(description=("Attach thumbnails as images (a contact sheet for many hits).")),
        ] = True,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Search the indexed footage by text, by image, or both, and get ranked shots with
        timecodes, scores and thumbnails. Keep the search_id to refine the search."""
        app = _app(ctx)
        image_bytes = None
        if image_base64:
            try:
                image_bytes = base64.b64decode(image_base64, validate=True)
            except ValueError as exc:
                raise QueryError(f"image_base64 is not valid base64: {exc}") from exc
        image_path = str(confine(image, app.settings.media_root_paths)) if image else None
        query = SearchQuery(
            text=text,
            image=image_path,
            image_weight=image_weight,
            videos=videos,
            after=after,
            before=before,
            limit=limit,
            per_video=per_video,
            min_score=min_score,
        )
        result = await anyio.to_thread.run_sync(
            lambda: searching.search(app.settings, app.store, query, image_bytes=image_bytes)
        )
        return _result_content(result, include_thumbnails)

    @mcp.tool()
    @_expected_errors
    async def refine_search(
        search_id: Annotated[str, Field(description="The search_id of an earlier search.")],
        ctx: Context,
        positive: Annotated[
            list[str] | None,
            Field(description=("Shot ids that are what is wanted: more like these.")),
        ] = None,
        negative: Annotated[
            list[str] | None, Field(description=("Shot ids that are not: less like these."))
        ] = None,
        text: Annotated[
            list[str] | None,
            Field(description=("Extra words for what is wanted, e.g. 'closer view'.")),
        ] = None,
        negative_text: Annotated[
            list[str] | None, Field(description=("Words for what is not wanted, e.g. 'crowd'."))
        ] = None,
        limit: Annotated[int | None, Field(ge=1, le=50)] = None,
        include_thumbnails: Annotated[bool, Field()] = True,
    ) -> Annotated[CallToolResult, SearchResult]:
        """Refine a search with relevance feedback. Feedback accumulates along a chain of
        refinements; shots already judged are not returned again."""
        app = _app(ctx)
        result = await anyio.to_thread.run_sync(
            lambda: searching.refine(
                app.settings,
                app.store,
                search_id,
                positive=positive,
                negative=negative,
                text=text,
                negative_text=negative_text,
                limit=limit,
            )
        )
        return _result_content(result, include_thumbnails)

    @mcp.tool()
    @_expected_errors
    async def list_videos(ctx: Context) -> VideoList:
        """The indexed videos: id, path, duration, counts of classes, scenes and shots, model."""
        app = _app(ctx)
        videos = await anyio.to_thread.run_sync(
            lambda: catalog.list_videos(app.store, app.settings)
        )
        return VideoList(videos=videos)

    @mcp.tool()
    @_expected_errors
    async def get_video_structure(
        video: Annotated[str, Field(description="Video id (or prefix), path or file name.")],
        ctx: Context,
    ) -> VideoStructure:
        """One video's hierarchy: semantic classes (looks that recur) → scenes (runs of one
        class) → shots, each with start/end seconds and timecodes and shot ids."""
        app = _app(ctx)
        return await anyio.to_thread.run_sync(
            lambda: catalog.video_structure(app.store, app.settings, video)
        )

    @mcp.resource(
        "shotseek://shots/{shot_id}/thumbnail",
        mime_type="image/jpeg",
        description="The keyframe of a shot (the frame nearest its mean embedding), as JPEG.",
    )
    async def shot_thumbnail(shot_id: str, ctx: Context) -> bytes:
        app = _app(ctx)

        def read() -> bytes:
            model_id = catalog.reader_model(app.store, app.settings)
            shot = app.store.get_shots(model_id, [shot_id]).get(shot_id)
            if shot is None or not shot.thumbnail or not Path(shot.thumbnail).is_file():
                raise ResourceError(
                    f"no thumbnail for shot {shot_id}; use a shot_id from a "
                    "search or from get_video_structure"
                )
            return Path(shot.thumbnail).read_bytes()

        return await anyio.to_thread.run_sync(read)

    @mcp.resource(
        "shotseek://videos/{video}/structure",
        mime_type="application/json",
        description="One video's classes → scenes → shots (video id, path or file name).",
    )
    async def video_structure_resource(video: str, ctx: Context) -> str:
        app = _app(ctx)

        def read() -> str:
            try:
                structure = catalog.video_structure(app.store, app.settings, video)
            except ShotseekError as exc:
                raise ResourceError(str(exc)) from exc
            return structure.model_dump_json()

        return await anyio.to_thread.run_sync(read)

    return mcp
