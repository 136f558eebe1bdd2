"""The ``shotseek`` command line: a thin mirror of the pipeline's public functions.

This is the only module that prints. Results go to stdout (``--json``: pydantic models dumped as
JSON and nothing else); logs and progress go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import ShotseekError

app = typer.Typer(
    name="shotseek",
    help="Search video footage by meaning: CLIP shots in Qdrant, for people and LLM agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", help="open_clip name, hf-hub:org/repo or local-dir:/path "
                 "[env SHOTSEEK_MODEL]."),
]
PretrainedOpt = Annotated[
    Optional[str],
    typer.Option("--pretrained", help="Pretrained tag, checkpoint file, or none "
                 "[env SHOTSEEK_PRETRAINED]."),
]
CheckpointTagOpt = Annotated[
    Optional[str],
    typer.Option("--checkpoint-tag", help="With a checkpoint file: the tag it was downloaded as "
                 "(applies that tag's mean/std and QuickGELU)."),
]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto, cpu, cuda or mps.")]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings().merged(**overrides)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        raise ShotseekError(_validation_message(exc)) from exc


def _validation_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        parts = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors()]
        return "invalid setting: " + "; ".join(parts)
    return str(exc)


def _print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    elif isinstance(value, list) and all(isinstance(v, BaseModel) for v in value):
        text = json.dumps([v.model_dump(mode="json") for v in value], indent=2)
    else:
        text = json.dumps(value, indent=2, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@app.callback()
def _main(
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logs.")] = 0,
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if verbose < 2:
        logging.getLogger("root").setLevel(logging.ERROR)  # open_clip logs on the root logger


@app.command()
def probe(
    videos: Annotated[list[Path], typer.Argument(help="Video files to check.")],
    as_json: JsonOpt = False,
) -> None:
    """Check that videos can be read and show what their headers say."""
    from shotseek.pipeline.video import probe as probe_video

    infos, failed = [], 0
    for path in videos:
        try:
            infos.append(probe_video(path))
        except ShotseekError as exc:
            failed += 1
            err.print(f"[red]error[/red]: {exc}", highlight=False)
    if as_json:
        _print_json(infos)
    else:
        table = Table("file", "duration", "size", "rotation", "fps", "codec")
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


@app.command()
def sample(
    video: Annotated[Path, typer.Argument(help="Video file.")],
    fps: Annotated[Optional[float], typer.Option(help="Frames per second to sample.")] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Write the frames as JPEG files here.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sample frames the way indexing does and list their exact times."""
    from PIL import Image

    from shotseek.pipeline.models import format_timecode
    from shotseek.pipeline.video import sample_frames

    settings = _settings(fps=fps)
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for frame in sample_frames(
        video, settings.fps, short_side=settings.frame_short_side, threads=settings.decode_threads
    ):
        row = {"index": frame.index, "time": round(frame.time, 6),
               "timecode": format_timecode(frame.time),
               "width": frame.image.shape[1], "height": frame.image.shape[0]}
        if out_dir:
            target = out_dir / f"{frame.index:06d}_{row['timecode'].replace(':', '-')}.jpg"
            Image.fromarray(frame.image).save(target, quality=90)
            row["file"] = str(target)
        rows.append(row)
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        out.print(f"{row['index']:6d}  {row['timecode']}  {row.get('file', '')}", highlight=False)
    err.print(f"{len(rows)} frames sampled at {settings.fps:g} fps")


@app.command()
def models(
    name: Annotated[Optional[str], typer.Argument(help="Only models containing this text.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List open_clip models and pretrained tags (the default is marked)."""
    import open_clip  # listing only; loading goes through pipeline.encoder

    defaults = Settings()
    rows = [
        {"model": m, "pretrained": t,
         "default": m == defaults.model and t == defaults.pretrained}
        for m, t in open_clip.list_pretrained()
        if not name or name.lower() in m.lower()
    ]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        mark = "  (default)" if row["default"] else ""
        out.print(f"{row['model']:<40} {row['pretrained']}{mark}", highlight=False)


@app.command("check-model")
def check_model(
    model: ModelOpt = None,
    pretrained: PretrainedOpt = None,
    checkpoint_tag: CheckpointTagOpt = None,
    device: DeviceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load the embedding model (downloading its weights if needed) and describe it."""
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
        _print_json(info)
    else:
        for key, value in info.items():
            out.print(f"{key:<10} {value}", highlight=False)


@app.command()
def config(as_json: JsonOpt = False) -> None:
    """Show the effective settings (defaults + SHOTSEEK_* environment variables)."""
    settings = _settings()
    data = settings.model_dump(mode="json")
    if as_json:
        _print_json(data)
        return
    for key, value in data.items():
        out.print(f"{key:<18} {value}", highlight=False)


def main() -> None:
    """Console-script entry point: user errors become one clear line and exit code 2."""
    try:
        app()
    except ShotseekError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
