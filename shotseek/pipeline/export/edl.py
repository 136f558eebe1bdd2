"""CMX 3600 edit decision lists, one per frame rate.

A CMX 3600 list counts every timecode in it at one rate: its events' record timecodes, and, as
editors read it (Premiere, Resolve, Avid), its source timecodes too. A search that mixes a 25 fps
file with a 29.97 drop-frame one therefore gets one list per rate (``selects.25.edl``,
``selects.29.97DF.edl``), each in rank order, rather than one list some events of which would be
read at the wrong rate (``otio-cmx3600-adapter`` 1.0.0 writes every event at the first clip's
rate: 9 of 12 events of a mixed search landed 2-4 frames off). The adapter also infers
drop-frame from the rate alone (a 29.97 file with non-drop timecode got drop-frame labels) and
writes no ``FCM`` line, so the lists are written here: an ``FCM`` line per list, event lines in
the format's columns, and the reel → file mapping as comments (a reel name has at most 8
characters), checked by an independent reader (pycmx) and OTIO's own in the tests.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shotseek.pipeline.export.selects import Length, Select
from shotseek.pipeline.export.timeline import note_of, record_start
from shotseek.pipeline.timecode import smpte

#: Characters a reel name may have, and how many (CMX 3600).
REEL_CHARS = 8
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def comment_text(text: str, limit: int = 240) -> str:
    """Text from footage or a user (a caption, a file name) made safe for a comment line: no
    line breaks or control characters (a newline in a file name must not start an event)."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def reel_names(paths: Sequence[str]) -> dict[str, str]:
    """A distinct reel name of up to 8 letters and digits for each file, from its name."""
    reels: dict[str, str] = {}
    taken: set[str] = set()
    for path in dict.fromkeys(paths):
        stem = re.sub(r"[^A-Za-z0-9]", "", path.rsplit("/", 1)[-1].rsplit(".", 1)[0]).upper()
        name = (stem or "REEL")[:REEL_CHARS]
        n = 1
        while name in taken:
            suffix = f"{n:02d}"
            name = (stem or "REEL")[: REEL_CHARS - len(suffix)] + suffix
            n += 1
        taken.add(name)
        reels[path] = name
    return reels


def rate_groups(selects: Sequence[Select]) -> dict[str, list[Select]]:
    """The selects of each timecode kind (rate and drop-frame), named as in file names, in
    the order they first appear."""
    groups: dict[str, list[Select]] = {}
    for select in selects:
        groups.setdefault(select.clock.label.replace(" ", ""), []).append(select)
    return groups


def write_edl(selects: Sequence[Select], title: str, gap: Length, reels: dict[str, str]) -> str:
    """One CMX 3600 list of selects that share a rate and drop-frame mode."""
    clock = selects[0].clock
    rate, drop = clock.fps, clock.drop_frame
    lines = [
        f"TITLE: {comment_text(title, 70)}",
        f"FCM: {'DROP FRAME' if drop else 'NON-DROP FRAME'}",
        "",
    ]
    for path in dict.fromkeys(s.path for s in selects):
        lines.append(f"* REEL {reels[path]} IS {comment_text(path, 1000)}")
    lines.append("")
    record = record_start(rate, drop)
    for number, select in enumerate(selects, 1):
        if number > 1 and (gap.frames or gap.seconds):
            record += gap.frames_at(clock)
        out = record + select.frames
        lines.append(
            f"{number:03d}  {reels[select.path]:<8} V     C        "
            f"{select.source_in} {select.source_out} "
            f"{smpte(record, rate, drop)} {smpte(out, rate, drop)}"
        )
        lines.append(f"* FROM CLIP NAME:  {comment_text(select.file_name)}")
        lines.append(f"* SOURCE FILE: {comment_text(select.path, 1000)}")
        lines.append(
            f"* LOC: {smpte(record + select.first_frame - select.in_frame, rate, drop)} "
            f"{'RED' if select.match is False else 'GREEN':<7} {comment_text(note_of(select))}"
        )
        lines.append(f"* SHOT: {select.shot.shot_id}")
        lines.append("")
        record = out
    return "\r\n".join(lines)
