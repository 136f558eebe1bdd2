"""What the command line prints: tables that fit 80 columns, and JSON. Results go to stdout
(``--json``: pydantic models dumped as JSON and nothing else), notes and progress to stderr."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from shotseek.pipeline.timecode import format_timecode

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(value: Any) -> None:
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    elif isinstance(value, list) and all(isinstance(v, BaseModel) for v in value):
        text = json.dumps([v.model_dump(mode="json") for v in value], indent=2)
    else:
        text = json.dumps(value, indent=2, default=str)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def short_ids(ids: list[str], minimum: int = 8) -> dict[str, str]:
    """Each id's shortest prefix (at least ``minimum`` characters) that no other id shares."""
    shown = {}
    for i in ids:
        n = minimum
        while n < len(i) and any(o != i and o.startswith(i[:n]) for o in ids):
            n += 1
        shown[i] = i[:n]
    return shown


def make_table(*headers: str, fold: tuple[str, ...] = (), right: tuple[str, ...] = ()) -> Table:
    """A table that fits an 80-column terminal: light borders; only the ``fold`` columns (names,
    paths) wrap, never timecodes or ids."""
    from rich import box
    from rich.table import Column

    columns = [
        Column(
            h,
            overflow="fold" if h in fold else "ignore",
            no_wrap=h not in fold,
            justify="right" if h in right else "left",
        )
        for h in headers
    ]
    return Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)


def print_result(result) -> None:
    ids = short_ids([h.shot.shot_id for h in result.hits])
    judged = any(h.judged_by for h in result.hits)
    source = any(h.shot.source_tc for h in result.hits)
    columns = [
        "#",
        "score",
        *(["vlm"] if judged else []),
        "video",
        "start",
        "end",
        *(["source tc"] if source else []),
        "scene",
    ]
    table = make_table(*columns, "shot id", fold=("video",), right=("#",))
    for hit in result.hits:
        shot = hit.shot
        verdict = []
        if judged:
            verdict = [
                f"{'yes' if hit.match else 'no'} {hit.relevance:.2f}" if hit.judged_by else ""
            ]
        table.add_row(
            str(hit.rank),
            f"{hit.score:.3f}",
            *verdict,
            Path(shot.path).name,
            shot.start_tc,
            shot.end_tc,
            *([shot.source_tc or ""] if source else []),
            str(shot.scene),
            ids[shot.shot_id],
        )
    out.print(table)
    for hit in result.hits:  # a sequence's steps and what the VLM said, under the table
        if hit.steps:
            out.print(
                f"{hit.rank:>3}. "
                + " → then ".join(
                    f"{s.text} {s.shot.start_tc}–{s.shot.end_tc} ({s.score:.3f})" for s in hit.steps
                ),
                highlight=False,
                markup=False,
            )
        if hit.explanation:
            out.print(f"{hit.rank:>3}. {hit.explanation}", highlight=False)
        if hit.caption:
            out.print(f"{hit.rank:>3}. caption: {hit.caption}", highlight=False)
    if result.no_good_match:
        err.print(f"[yellow]{result.note}[/yellow]", highlight=False)
    elif result.note:
        err.print(result.note, highlight=False)
    out.print(
        f"refine: shotseek refine {result.search_id} --positive ID --negative ID",
        highlight=False,
    )
    out.print(f"export: shotseek export {result.search_id} --format edl", highlight=False)


def print_eval(report, per_query: bool) -> None:
    from shotseek.pipeline.config import EVAL_KS

    table = make_table("run", "n", *(f"R@{k}" for k in EVAL_KS), "MRR", "med", fold=("run",))
    best = {k: max((r.recall[k] for r in report.runs), default=0.0) for k in EVAL_KS}
    best_mrr = max((r.mrr for r in report.runs), default=0.0)
    several = len(report.runs) > 1

    def mark(value: float, top: float) -> str:
        return f"{value:.2f}" + ("*" if several and value == top and value > 0 else "")

    for run in report.runs:
        table.add_row(
            run.name,
            str(run.queries),
            *(mark(run.recall[k], best[k]) for k in EVAL_KS),
            mark(run.mrr, best_mrr),
            "-" if run.median_rank is None else f"{run.median_rank:g}",
        )
    out.print(table)
    if several:
        err.print("* best in its column", highlight=False)
    for problem in report.problems:
        err.print(f"{report.log}: line {problem.line}: {problem.reason}", highlight=False)
    if report.unknown_videos:
        err.print(f"not indexed, skipped: {', '.join(report.unknown_videos)}", highlight=False)
    if report.skipped:
        err.print(f"{report.skipped} log lines skipped", highlight=False)
    if per_query:
        for run in report.runs:
            lines = make_table("line", "rank", "video", "start", "query", fold=("video", "query"))
            for o in run.outcomes:
                rank = "-" if o.rank is None else str(o.rank)
                lines.add_row(str(o.line), rank, o.video, f"{o.start_tc}", o.query)
            out.print(run.name, highlight=False)
            out.print(lines)


def print_index_report(report) -> None:
    """One row per file: status, duration, shots, time, and why a file failed."""
    table = make_table(
        "file", "status", "duration", "shots", "time", "reason", fold=("file", "reason")
    )
    for r in report.results:
        colour = {"indexed": "green", "skipped": "yellow", "failed": "red"}[r.status]
        table.add_row(
            Path(r.path).name,
            f"[{colour}]{r.status}[/{colour}]",
            format_timecode(r.duration) if r.duration else "",
            str(r.n_shots or ""),
            f"{r.seconds:.1f}s",
            r.reason or "",
        )
    out.print(table)
    if not report.results:
        err.print("no video files found")


def print_videos(records) -> None:
    ids = short_ids([v.video_id for v in records], minimum=8)
    table = make_table(
        "id", "file", "duration", "shots", "model", "indexed", fold=("file", "model")
    )
    for v in records:
        table.add_row(
            ids[v.video_id],
            v.file_name,
            v.duration_tc,
            str(v.n_shots),
            v.model_id,
            v.indexed_at.strftime("%Y-%m-%d"),
        )
    out.print(table)
    if len({v.file_name for v in records}) < len(records):
        err.print("several videos share a file name: name them by id or path", highlight=False)


def print_index_states(states) -> None:
    """A line per model whose search index does not cover all its shots yet."""
    for state in states:
        if state.building or state.build_due:
            doing = "being built now" if state.building else "built after the next index run"
            err.print(
                f"{state.model_id}: {state.indexed:,} of {state.shots:,} shots are in the search "
                f"index ({doing}); searches are exact over the rest meanwhile",
                highlight=False,
            )


def print_structure(result) -> None:
    """Classes, then scenes with their shots, with timecodes and how each shot starts."""
    v = result.video
    out.print(v.path, highlight=False)
    out.print(
        f"{v.duration_tc}, {v.n_classes} classes, {v.n_scenes} scenes, {v.n_shots} shots, "
        f"{v.model_id}",
        highlight=False,
    )
    ids = short_ids([shot.shot_id for scene in result.scenes for shot in scene.shots])
    for c in result.classes:
        out.print(
            f"class {c.index}: scenes {', '.join(map(str, c.scenes))} ({c.seconds:.1f}s)",
            highlight=False,
        )
    for scene in result.scenes:
        out.print(
            f"  scene {scene.index} (class {scene.class_index}) {scene.start_tc} - {scene.end_tc}",
            highlight=False,
        )
        for shot in scene.shots:
            out.print(
                f"    shot {shot.index:<4} {shot.start_tc} - {shot.end_tc}  "
                + (f"{shot.source_tc}  " if shot.source_tc else "")
                + f"{shot.boundary:<8}  {ids[shot.shot_id]}",
                highlight=False,
            )


def settings_reference() -> str:
    """docs/configuration.md: every setting with its variable, default and description, made
    from the Settings object (tests/test_config.py checks the file is current)."""
    from pydantic_core import PydanticUndefined

    from shotseek.pipeline.config import PRIVATE_SETTINGS, REQUEST_SETTINGS, Settings

    lines = [
        "# Configuration",
        "",
        "<!-- Made by `uv run shotseek config --reference > docs/configuration.md`; the tests",
        "     fail when it differs from the Settings object (shotseek/pipeline/config.py). -->",
        "",
        "One settings object, `shotseek/pipeline/config.py`: environment variables `SHOTSEEK_*`",
        "set it and command-line flags override them. `shotseek config` shows the effective",
        "values (secrets masked). *Per command*: a command run beside a `shotseek serve` sends",
        "these with its request and the server takes them; it refuses any other that differs",
        "from its own. *Private*: never sent to worker processes, Ray or a server.",
        "",
        "| variable | default | per command | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default = "(computed)" if name != "data_dir" else "the user data folder"
        elif field.default is None or field.default is PydanticUndefined:
            default = "—"
        else:
            value = field.default
            default = f"`{json.dumps(value) if isinstance(value, bool) else value}`"
        kind = "yes" if name in REQUEST_SETTINGS else "private" if name in PRIVATE_SETTINGS else ""
        meaning = " ".join((field.description or "").split()).replace("|", "\\|")
        lines.append(f"| `SHOTSEEK_{name.upper()}` | {default} | {kind} | {meaning} |")
    return "\n".join(lines) + "\n"
