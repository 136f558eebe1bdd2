"""The ``shotseek`` command line: a thin mirror of the pipeline's public functions.

This is the only module that prints. Results go to stdout (``--json``: pydantic models dumped as
JSON and nothing else); logs and progress go to stderr.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from shotseek.pipeline.config import (
    DEFAULT_IMAGE_WEIGHT,
    DEFAULT_LIMIT,
    FPS_MAX,
    FPS_MIN,
    HTTP_PORT,
    LIMIT_MAX,
    RAY_AUTO,
    RAY_LOCAL,
    RERANK_MAX,
    SEQUENCE_WITHIN_S,
    Settings,
)
from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.models import validation_message
from shotseek.pipeline.timecode import format_timecode
from shotseek.server import calls, render, serving
from shotseek.server.render import err, out

T = TypeVar("T")

app = typer.Typer(
    name="shotseek",
    help="Search video footage by meaning: CLIP shots in Qdrant, for people and LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: re-wrapped paragraphs, flags shown without a type
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model", help="open_clip name, hf-hub:org/repo or local-dir:/path (env SHOTSEEK_MODEL)."
    ),
]
PretrainedOpt = Annotated[
    str | None,
    typer.Option(
        "--pretrained",
        help="Pretrained tag, checkpoint file, best or none (env SHOTSEEK_PRETRAINED).",
    ),
]
CheckpointTagOpt = Annotated[
    str | None,
    typer.Option(
        "--checkpoint-tag",
        help="With a checkpoint file: the tag it was downloaded as "
        "(applies that tag's mean/std and QuickGELU).",
    ),
]
VideoArg = Annotated[str, typer.Argument(help="Video id (or prefix), path or file name.")]

PortOpt = Annotated[int, typer.Option(help="HTTP port.", min=1, max=65535)]
MediaRootOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--media-root",
        help="A folder the server may read videos and images from "
        "(repeatable; env SHOTSEEK_MEDIA_ROOTS).",
    ),
]


def _roots(media_root: list[Path] | None) -> str | None:
    """--media-root folders as SHOTSEEK_MEDIA_ROOTS spells them (None: the setting's own)."""
    import os

    return os.pathsep.join(str(p.expanduser().resolve()) for p in media_root or []) or None


#: The shots an export or a clip takes: a search's hits, or shots by id, and how.
SearchIdArg = Annotated[
    str | None, typer.Argument(help="A search's (or refinement's) id; or give --shot.")
]
HandlesOpt = Annotated[
    str, typer.Option(help="Added before and after each shot: seconds (1s) or frames (12f).")
]
OrderOpt = Annotated[
    str, typer.Option(help="rank (the search's order) or source (by file and time).")
]
TopOpt = Annotated[int | None, typer.Option(help="Only the first N hits.", min=1)]
ShotOpt = Annotated[
    list[str] | None,
    typer.Option("--shot", help="A shot id to take instead of a search; repeatable."),
]
DeviceOpt = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or mps.")]


class SearchModeOpt(StrEnum):
    """How ``search`` ranks shots (see SearchQuery.mode)."""

    clip = "clip"
    caption = "caption"
    hybrid = "hybrid"


ModeOpt = Annotated[
    SearchModeOpt,
    typer.Option(
        "--mode", help="clip: the pictures; caption: BM25 over VLM captions; hybrid: both, fused."
    ),
]
RerankOpt = Annotated[
    int,
    typer.Option(
        "--rerank",
        min=0,
        max=RERANK_MAX,
        help="The VLM (Ollama) judges this many top hits and reorders them.",
    ),
]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings().merged(**overrides)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise ShotseekError(f"invalid setting: {validation_message(exc)}") from exc


def _command(*args: Any, **kwargs: Any):
    """``app.command`` whose user errors become one clear line on stderr and exit code 2."""

    def register(fn):
        @functools.wraps(fn)
        def run(*a: Any, **kw: Any):
            try:
                return fn(*a, **kw)
            except ShotseekError as exc:
                err.print(f"[red]error[/red]: {exc}", highlight=False)
                raise typer.Exit(2) from exc

        return app.command(*args, **kwargs)(run)

    return register


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logs.")] = 0,
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )


FpsOpt = Annotated[
    float | None,
    typer.Option(
        "--fps", min=FPS_MIN, max=FPS_MAX, help="Frames sampled per second (env SHOTSEEK_FPS)."
    ),
]


@_command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Video files and folders (recursive).")],
    fps: FpsOpt = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    checkpoint_tag: CheckpointTagOpt = None,
    device: DeviceOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Re-index files already indexed.")] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="[ADDRESS]",
            help="Decode and embed on a Ray cluster: the one this machine joined (no value), "
            "ray://HOST:10001, or 'local' (env SHOTSEEK_RAY).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Index videos: find classes → scenes → shots, store them.

    Samples and embeds each file, finds its camera cuts and semantic classes, scenes and shots.

    Files already indexed with the same model and settings are skipped; a file that cannot be
    indexed is reported and the others go on (exit code 1 if any failed).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from shotseek.ops.requests import IndexRequest

    settings = _settings(
        fps=fps,
        model=model,
        pretrained=pretrained,
        checkpoint_tag=checkpoint_tag,
        device=device,
        ray=ray,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=as_json,
    ) as bar:
        tasks: dict[str, int] = {}
        started: dict[str, float] = {}
        rates: dict[str, str] = {}  # frames/s and video-s/s of each file's sampling

        def on_progress(event) -> None:
            if event.path not in tasks:
                name = Path(event.path).name
                label = (
                    f"building the search index of {event.path}"
                    if event.stage == "search index"
                    else f"[{event.file_number}/{event.file_count}] {name}"
                )
                tasks[event.path] = bar.add_task(label, total=None, stage="")
            if event.stage == "sample":  # the long stage: how fast it goes
                first = started.setdefault(event.path, time.monotonic())
                elapsed = time.monotonic() - first
                if event.samples and elapsed > 0:
                    rates[event.path] = (
                        f"{event.samples / elapsed:.1f} frames/s, "
                        f"{event.done / elapsed:.2f} video-s/s"
                    )
            rate = rates.get(event.path)
            stage = f"{event.stage} ({rate})" if rate else event.stage
            bar.update(tasks[event.path], completed=event.done, total=event.total, stage=stage)

        request = IndexRequest(paths=[str(p.expanduser().absolute()) for p in paths], force=force)
        report = calls.run(settings, "index", request, on_progress)
    if as_json:
        render.print_json(report)
    else:
        render.print_index_report(report)
    calls.keep_text_graphs(settings)
    if report.failed:
        raise typer.Exit(1)


@_command()
def videos(
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List indexed videos with their models.

    Every model's videos are listed unless --model/--pretrained picks one.
    """
    from shotseek.ops.requests import NoRequest, VideosRequest

    settings = _settings(model=model, pretrained=pretrained)
    every = model is None and pretrained is None
    records = calls.run(settings, "videos", VideosRequest(every_model=every)).videos
    if as_json:
        render.print_json(records)
        return
    render.print_videos(records)
    render.print_index_states(calls.run(settings, "index_states", NoRequest()).states)


@_command()
def structure(
    video: VideoArg,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one video's classes → scenes → shots.

    With timecodes, and how each shot's start was found: start, cut, dissolve (found on every
    frame) or content (a change within one camera shot, found on the sampled frames).
    """
    from shotseek.ops.requests import StructureRequest

    settings = _settings(model=model, pretrained=pretrained)
    result = calls.run(settings, "structure", StructureRequest(video=calls.as_sent(video)))
    if as_json:
        render.print_json(result)
        return
    render.print_structure(result)


@_command()
def search(
    text: Annotated[str | None, typer.Argument(help="What to find, in words.")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="A still to match.")] = None,
    image_weight: Annotated[
        float,
        typer.Option(
            "--image-weight",
            min=0.0,
            max=1.0,
            help="With text and an image: the image's share of the query (0..1).",
        ),
    ] = DEFAULT_IMAGE_WEIGHT,
    video: Annotated[
        list[str] | None,
        typer.Option("--video", help="Only this video (id, path or file name); repeatable."),
    ] = None,
    after: Annotated[
        str | None,
        typer.Option(
            "--after", help="Only shots ending after this time (HH:MM:SS.mmm or seconds)."
        ),
    ] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="Only shots starting before this time.")
    ] = None,
    min_score: Annotated[
        float | None,
        typer.Option(
            "--min-score",
            help="Leave out hits scoring under this cosine similarity (it depends on the "
            "model: real CLIP text queries score about 0.2-0.35).",
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=LIMIT_MAX, help="Most hits to show.")
    ] = DEFAULT_LIMIT,
    per_video: Annotated[
        int | None, typer.Option("--per-video", min=1, help="At most this many hits per video.")
    ] = None,
    mode: ModeOpt = SearchModeOpt.clip,
    rerank: RerankOpt = 0,
    explain: Annotated[
        bool, typer.Option("--explain", help="The VLM says why each top hit fits (order kept).")
    ] = False,
    then: Annotated[
        list[str] | None,
        typer.Option(
            "--then",
            help="And then this (repeatable, in order): hits are runs of shots in one video.",
        ),
    ] = None,
    within: Annotated[
        str | None,
        typer.Option(
            "--within",
            help=f"With --then: most time between steps (20s, 00:01:00; default "
            f"{SEQUENCE_WITHIN_S:g}s).",
        ),
    ] = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search shots by text, by image, or both."""
    from shotseek.ops.requests import SearchRequest
    from shotseek.pipeline.models import SearchQuery
    from shotseek.pipeline.timecode import parse_timecode

    settings = _settings(model=model, pretrained=pretrained)
    try:
        query = SearchQuery(
            text=text,
            image=str(image.expanduser().absolute()) if image else None,
            image_weight=image_weight,
            videos=[calls.as_sent(v) for v in video] if video else None,
            after=parse_timecode(after) if after else None,
            before=parse_timecode(before) if before else None,
            min_score=min_score,
            limit=limit,
            per_video=per_video,
            mode=mode.value,
            rerank=rerank,
            explain=explain,
            then=then or None,
            within=parse_timecode(within.removesuffix("s")) if within else SEQUENCE_WITHIN_S,
        )
    except ValueError as exc:
        raise ShotseekError(validation_message(exc)) from exc

    result = calls.run(settings, "search", SearchRequest(query=query))
    if as_json:
        render.print_json(result)
    else:
        render.print_result(result)
    calls.keep_text_graphs(settings)


@_command()
def refine(
    search_id: Annotated[str, typer.Argument(help="The id printed with a search.")],
    positive: Annotated[
        list[str] | None,
        typer.Option("--positive", help="A shot id that is what you want; repeatable."),
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", help="A shot id that is not; repeatable.")
    ] = None,
    text: Annotated[
        list[str] | None,
        typer.Option("--text", help="Extra words for what you want (e.g. 'closer view')."),
    ] = None,
    not_text: Annotated[
        list[str] | None,
        typer.Option("--not", help="Words for what you do not want (e.g. 'crowd')."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, max=LIMIT_MAX)] = None,
    include_judged: Annotated[
        bool, typer.Option("--include-judged", help="Also return the shots already marked.")
    ] = False,
    rerank: RerankOpt = 0,
    explain: Annotated[
        bool, typer.Option("--explain", help="The VLM says why each top hit fits (order kept).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Refine a search: more like these, less like those.

    Positive and negative shot ids (or the short prefixes the tables print), and extra words.
    """
    from shotseek.ops.requests import RefineRequest

    settings = _settings()
    try:
        request = RefineRequest(
            search_id=search_id,
            positive=positive,
            negative=negative,
            text=text,
            negative_text=not_text,
            limit=limit,
            include_judged=include_judged,
            rerank=rerank,
            explain=explain,
        )
    except ValueError as exc:
        raise ShotseekError(validation_message(exc)) from exc
    result = calls.run(settings, "refine", request)
    if as_json:
        render.print_json(result)
    else:
        render.print_result(result)
    calls.keep_text_graphs(settings)


@_command()
def serve(
    http: Annotated[bool, typer.Option("--http", help="Streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="HTTP address to bind.")] = "127.0.0.1",
    port: PortOpt = HTTP_PORT,
    media_root: MediaRootOpt = None,
) -> None:
    """Run the MCP server (stdio, or HTTP with --http).

    Stdio for chat clients (the default), or streamable HTTP for teams, with the web gallery
    at / on the same port.

    Over HTTP a bearer token (SHOTSEEK_TOKEN) is required by every request when set (the gallery
    asks for it once, in a login form), and must be set to bind anything but a loopback address.
    """
    from shotseek.server.http_auth import is_loopback

    settings = _settings(media_roots=_roots(media_root))  # a bad setting stops us here
    if http and not settings.token and not is_loopback(host):
        raise ShotseekError(
            f"refusing to serve HTTP on {host} without a token: set SHOTSEEK_TOKEN (clients then "
            "send 'Authorization: Bearer <token>'), or bind 127.0.0.1"
        )
    serving.serve(settings, http, host, port)


@_command()
def gallery(
    port: PortOpt = HTTP_PORT,
    media_root: MediaRootOpt = None,
    browser: Annotated[
        bool, typer.Option("--browser/--no-browser", help="Open the gallery in the browser.")
    ] = True,
) -> None:
    """Search, play, refine and export in the browser (the gallery).

    It listens on 127.0.0.1 only. Beside a running `shotseek serve` it goes through that
    server; else it serves MCP too, as `serve --http`. With no --media-root it plays the
    files the archive indexed, and nothing else.
    """
    settings = _settings(media_roots=_roots(media_root))
    serving.gallery(settings, port, browser)


@_command()
def caption(
    video: Annotated[
        list[str] | None,
        typer.Option("--video", help="Caption this video's shots (id, path or name); repeatable."),
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Caption every indexed video.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Caption shots with the VLM (Ollama), ahead of searches.

    Each shot is captioned once per VLM and prompt: run it again to go on after a stop or to
    add new videos. Captions make caption and hybrid search possible (search --mode) and show
    with search hits. Exit code 1 if some shots could not be captioned.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from shotseek.ops.requests import CaptionRequest
    from shotseek.pipeline.errors import ConfigError
    from shotseek.pipeline.models import ShotCaption

    if bool(video) == every:
        raise ConfigError("name the videos to caption with --video, or give --all")
    settings = _settings()
    with Progress(
        "captioning", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    ) as bar:
        task = bar.add_task("captions", total=None)

        def on_progress(event) -> None:
            bar.update(task, completed=event.done, total=event.total)

        request = CaptionRequest(videos=[calls.as_sent(v) for v in video] if video else None)
        report = calls.run(settings, "caption", request, on_progress)
    if as_json:
        render.print_json(report)
    else:
        made = [c for c in report.captions if c.caption and not c.cached]
        kept = [c for c in report.captions if c.cached]
        out.print(
            f"{len(made)} shots captioned, {len(kept)} already were, "
            f"{len(report.failed)} failed ({settings.vlm_model})",
            highlight=False,
        )
        failed: list[ShotCaption] = report.failed
        for c in failed[:10]:
            err.print(f"{c.shot_id[:8]}: {c.error}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@_command(name="eval")
def evaluate(
    log: Annotated[
        Path,
        typer.Argument(help="CSV or TSV with a header: video, start, end, query (time-coded log)."),
    ],
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance", min=0.0, help="Seconds a hit may miss the logged span by and count."
        ),
    ] = 0.0,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Every indexed model, each in clip, caption and hybrid mode, side by side.",
        ),
    ] = False,
    mode: ModeOpt = SearchModeOpt.clip,  # without --compare
    rerank: RerankOpt = 0,
    per_query: Annotated[
        bool, typer.Option("--per-query", help="Also each line's rank, per configuration.")
    ] = False,
    report_to: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write an HTML page: the R@K curves drawn, the table, the missed queries.",
        ),
    ] = None,
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Measure search against a time-coded log (recall, MRR).

    Each line's description is searched; it is answered at rank k when the k-th hit is in the
    logged video and overlaps the logged span (widened by --tolerance). Malformed lines and
    videos not indexed are reported and skipped. Nothing is recorded for refine or calibration.
    """
    from shotseek.ops.requests import EvalRequest

    settings = _settings(model=model, pretrained=pretrained)
    request = EvalRequest(
        log=str(log.expanduser().absolute()),
        tolerance=tolerance,
        compare=compare,
        mode=mode.value,
        rerank=rerank,
    )
    report = calls.run(settings, "eval", request)
    if report_to is not None:
        from shotseek.pipeline.history import write_atomically
        from shotseek.server.report import eval_report_html

        target = report_to.expanduser()
        try:
            write_atomically(target, eval_report_html(report))
        except OSError as exc:
            raise ShotseekError(f"cannot write the report to {target}: {exc}") from exc
        err.print(f"report written to {target}")
    if as_json:
        render.print_json(report)
    else:
        render.print_eval(report, per_query)
    if not any(run.queries for run in report.runs):
        raise typer.Exit(1)


@_command()
def migrate(as_json: JsonOpt = False) -> None:
    """Move an older shotseek's embedded store into Qdrant Edge.

    Opening the store does this by itself; this command does it now, with progress. The stored
    vectors are copied (nothing is re-embedded), an interrupted run resumes where it stopped, and
    the old folder is kept, renamed, until you delete it.
    """
    from shotseek.pipeline.errors import ConfigError
    from shotseek.pipeline.store.migrate import migrate_store

    settings = _settings()
    if settings.qdrant_url:
        raise ConfigError(
            "shotseek migrate moves the embedded store of the data dir; SHOTSEEK_QDRANT_URL is "
            "set, so shotseek uses that server instead: unset it to migrate"
        )

    def on_progress(done: int, total: int, record) -> None:
        if not as_json:
            err.print(
                f"[{done}/{total}] {record.file_name} ({record.n_shots} shots)", highlight=False
            )

    report = migrate_store(settings, on_progress)
    if report is None:
        err.print(f"nothing to migrate: no older store in {settings.legacy_store_path}")
        if as_json:
            render.print_json(None)
        return
    if as_json:
        render.print_json(report)
        return
    out.print(
        f"moved {report.videos_copied} videos ({report.shots_copied} shots) into "
        f"{settings.store_path} in {report.seconds:.1f} s"
        + (
            f"; {report.videos_already_there} were already there"
            if report.videos_already_there
            else ""
        )
        + f". The old store is kept at {report.old_store_kept_at}: delete it when satisfied.",
        highlight=False,
    )


@_command()
def probe(
    videos: Annotated[list[Path], typer.Argument(help="Video files and folders to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check that videos can be read; show their headers.

    Folders are searched for video files, as index does.
    """
    from shotseek.pipeline.media import expand_paths
    from shotseek.pipeline.video import probe as probe_video

    infos, failed = [], 0
    files = expand_paths(videos)
    for folder in (p for p in videos if p.is_dir()):
        if not any(f.is_relative_to(folder.absolute()) for f in files):
            failed += 1
            err.print(f"[red]error[/red]: {folder}: no video files in this folder", highlight=False)
    for path in files:
        try:
            infos.append(probe_video(path))
        except ShotseekError as exc:
            failed += 1
            err.print(f"[red]error[/red]: {exc}", highlight=False)
    if as_json:
        render.print_json(infos)
    else:
        if not infos:
            raise typer.Exit(1)
        table = render.make_table(
            "file", "duration", "size", "rotation", "fps", "codec", fold=("file",)
        )
        for info in infos:
            table.add_row(
                info.path,
                info.duration_tc,
                f"{info.width}×{info.height}",
                f"{info.rotation}°",
                f"{info.average_fps:.3f}" if info.average_fps else "?",
                info.codec,
            )
        out.print(table)
    if failed:
        raise typer.Exit(1)


@_command()
def sample(
    video: Annotated[Path, typer.Argument(help="Video file.")],
    fps: FpsOpt = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Write the frames as JPEG files here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the frames indexing samples, with exact times.

    Frames are shown at their decoded size (or SHOTSEEK_FRAME_SHORT_SIDE); indexing reads them
    at the model's input size.
    """
    from PIL import Image

    from shotseek.pipeline.video import sample_frames

    settings = _settings(fps=fps)
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for frame in sample_frames(
        video, settings.fps, short_side=settings.frame_short_side, threads=settings.decode_threads
    ):
        row = {
            "index": frame.index,
            "time": round(frame.time, 6),
            "timecode": format_timecode(frame.time),
            "width": frame.image.shape[1],
            "height": frame.image.shape[0],
        }
        if out_dir:
            target = out_dir / f"{frame.index:06d}_{row['timecode'].replace(':', '-')}.jpg"
            Image.fromarray(frame.image).save(target, quality=90)
            row["file"] = str(target)
        rows.append(row)
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        out.print(f"{row['index']:6d}  {row['timecode']}  {row.get('file', '')}", highlight=False)
    err.print(f"{len(rows)} frames sampled at {settings.fps:g} fps")


@_command()
def models(
    name: Annotated[str | None, typer.Argument(help="Only models containing this text.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List open_clip models and pretrained tags.

    The default is marked.
    """
    from shotseek.pipeline.encoder import list_pretrained

    defaults = Settings()
    rows = [
        {"model": m, "pretrained": t, "default": m == defaults.model and t == defaults.pretrained}
        for m, t in list_pretrained()
        if not name or name.lower() in m.lower()
    ]
    if as_json:
        render.print_json(rows)
        return
    for row in rows:
        mark = "  (default)" if row["default"] else ""
        out.print(f"{row['model']:<40} {row['pretrained']}{mark}", highlight=False)


@_command("check-model")
def check_model(
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    checkpoint_tag: CheckpointTagOpt = None,
    device: DeviceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the embedding model and describe it.

    Downloads its weights if they are not cached yet.
    """
    from shotseek.pipeline.encoder import get_encoder

    settings = _settings(
        model=model, pretrained=pretrained, checkpoint_tag=checkpoint_tag, device=device
    )
    encoder = get_encoder(settings)
    info = {
        "model_id": encoder.model_id,
        "dim": encoder.dim,
        "device": str(encoder.device),
        "precision": encoder.precision,
        "image_size": encoder.image_size,
    }
    if as_json:
        render.print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:<10} {value}", highlight=False)


@_command()
def forget(
    video: VideoArg,
    as_json: JsonOpt = False,
) -> None:
    """Forget a video: its shots, thumbnails and captions.

    Under every model that indexed it. The file itself is not touched; index it again to bring
    it back.
    """
    from shotseek.ops.requests import ForgetRequest

    gone = calls.run(_settings(), "forget_video", ForgetRequest(video=calls.as_sent(video)))
    if as_json:
        render.print_json(gone)
        return
    for record in gone.videos:
        out.print(f"forgot {record.path} ({record.model_id})", highlight=False)
    out.print(f"{gone.shots} shots removed", highlight=False)


@_command()
def export(
    search_id: SearchIdArg = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="otio, edl, fcp-xml, fcpxml, mlt or csv.")
    ] = "otio",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The file to write (default: <search-id>.<ext> here)."),
    ] = None,
    handles: HandlesOpt = "0",
    gap: Annotated[str, typer.Option(help="Space between clips: seconds or frames.")] = "0",
    order: OrderOpt = "rank",
    top: TopOpt = None,
    shot: ShotOpt = None,
    title: Annotated[str | None, typer.Option(help="The timeline's name.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send found shots to an editor (EDL, FCP XML, OTIO, MLT, CSV).

    Source in and out points are in each file's own frames and timecode (its embedded start
    timecode when it has one), so the clips land on their frames in Premiere, Resolve, Final Cut
    Pro, Avid, Shotcut or Kdenlive. An EDL has one frame rate: a search mixing rates gets one
    list per rate.
    """
    from shotseek.ops.requests import ExportRequest
    from shotseek.pipeline.models import EXPORT_SUFFIXES

    if output is None:
        name = search_id or "selects"
        output = Path(f"{name}{EXPORT_SUFFIXES.get(format, '')}")
    try:
        request = ExportRequest(
            format=format,
            search_id=search_id,
            shot_ids=shot,
            top=top,
            order=order,
            handles=handles,
            gap=gap,
            output=str(output.expanduser().absolute()),
            title=title,
        )
    except ValueError as exc:
        raise ShotseekError(validation_message(exc)) from exc
    report = calls.run(_settings(), "export", request)
    if as_json:
        render.print_json(report)
        return
    for path in report.files:
        out.print(path, highlight=False)
    err.print(
        f"{report.clips} clips, {report.format}, {', '.join(report.rates)} fps"
        + "".join(f"; {note}" for note in report.notes),
        highlight=False,
    )


@_command()
def clip(
    search_id: SearchIdArg = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="The folder to write the clips in.")
    ] = Path("clips"),
    exact: Annotated[
        bool,
        typer.Option(
            "--exact/--fast",
            help="Re-encode to the frame (default), or copy the file's own packets: fast, "
            "from the keyframe before the shot (an MP4/MOV edit list starts playback on it).",
        ),
    ] = True,
    burn_timecode: Annotated[
        bool, typer.Option("--burn-timecode", help="Write the source timecode on each frame.")
    ] = False,
    reel: Annotated[
        bool, typer.Option("--reel", help="One file: the shots one after another.")
    ] = False,
    handles: HandlesOpt = "0",
    order: OrderOpt = "rank",
    top: TopOpt = None,
    shot: ShotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cut found shots as video files to play and share.

    Each shot (with its handles) as an MP4 with its sound, re-encoded frame-accurately, or with
    --fast copied without re-encoding; --reel puts them one after another in one file.
    """
    from shotseek.ops.requests import ClipRequest

    try:
        request = ClipRequest(
            search_id=search_id,
            shot_ids=shot,
            top=top,
            order=order,
            handles=handles,
            mode="exact" if exact else "fast",
            burn_timecode=burn_timecode,
            reel=reel,
            folder=str(out_dir.expanduser().absolute()),
        )
    except ValueError as exc:
        raise ShotseekError(validation_message(exc)) from exc
    report = calls.run(_settings(), "clip", request)
    if as_json:
        render.print_json(report)
        return
    for made in report.clips:
        out.print(made.path, highlight=False)
        if made.note:
            err.print(f"  {made.note}", highlight=False)
    for note in report.notes:
        err.print(note, highlight=False)


@_command()
def cancel(
    job_id: Annotated[str, typer.Argument(help="An index job's id (index_video gives it).")],
    as_json: JsonOpt = False,
) -> None:
    """Cancel an index job of the running server.

    A queued job never starts; a running one stops at its next step. Videos it finished stay
    indexed; the one it was on is left as it was before the job.
    """
    from shotseek.ops.requests import JobRequest

    job = calls.run(_settings(), "cancel_index", JobRequest(job_id=job_id))
    if as_json:
        render.print_json(job)
        return
    out.print(
        f"job {job.job_id}: {job.state} ({job.counts.indexed} indexed, {job.counts.skipped} "
        f"skipped, {job.counts.failed} failed)",
        highlight=False,
    )


@_command()
def config(
    as_json: JsonOpt = False,
    reference: Annotated[
        bool,
        typer.Option(
            "--reference", help="Every setting as a Markdown table (docs/configuration.md)."
        ),
    ] = False,
) -> None:
    """Show the effective settings.

    Defaults, then SHOTSEEK_* environment variables; secrets are masked.
    """
    if reference:
        sys.stdout.write(render.settings_reference())
        return
    settings = _settings()
    data = settings.model_dump(mode="json")
    if as_json:
        render.print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:<18} {value}", highlight=False)


def with_ray_value(args: list[str]) -> list[str]:
    """``--ray`` with its address optional, as ``index --help`` shows it: given alone (last,
    before another option, or before a path that exists) it means 'auto'. (Typer options take a
    value always or never.)"""
    out = list(args)
    for i, arg in enumerate(out):
        if arg != "--ray":
            continue
        nxt = out[i + 1] if i + 1 < len(out) else None
        keyword = nxt in (RAY_LOCAL, RAY_AUTO) or (nxt is not None and "://" in nxt)
        if nxt is None or nxt.startswith("-") or (not keyword and Path(nxt).exists()):
            out.insert(i + 1, RAY_AUTO)
        break
    return out


def main() -> None:
    """Console-script entry point: user errors become one clear line and exit code 2."""
    try:
        app(args=with_ray_value(sys.argv[1:]))
    except ShotseekError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
