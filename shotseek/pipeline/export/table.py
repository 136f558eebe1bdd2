"""Selects as CSV, for spreadsheets and logging tools."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from shotseek.pipeline.export.selects import Select

COLUMNS = (
    "number",
    "rank",
    "video",
    "path",
    "video_id",
    "shot_id",
    "start",
    "end",
    "start_tc",
    "end_tc",
    "source_in",
    "source_out",
    "rate",
    "score",
    "query",
    "match",
    "caption",
)


def cell(value: object) -> str:
    """A value as a spreadsheet should show it: text that a spreadsheet would run as a formula
    (``=``, ``+``, ``-``, ``@`` first: a caption read off a hostile sign) is quoted with ``'``."""
    if value is None:
        return ""
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_csv(selects: Sequence[Select]) -> str:
    """One row per select; source in/out are the file's own timecode, out exclusive."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for s in selects:
        row = (
            s.number,
            s.rank,
            s.file_name,
            s.path,
            s.shot.video_id,
            s.shot.shot_id,
            round(s.shot.start, 3),
            round(s.shot.end, 3),
            s.shot.start_tc,
            s.shot.end_tc,
            s.source_in,
            s.source_out,
            s.clock.label,
            s.score,
            s.query,
            s.match,
            s.caption,
        )
        writer.writerow([cell(v) for v in row])
    return buffer.getvalue()
