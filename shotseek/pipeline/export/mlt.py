"""MLT XML for Shotcut and Kdenlive, rendered by ``melt``.

``otio-mlt-adapter`` (0.3.0, unmaintained since 2021) counts a clip's in and out points from
its source range as given, so a file with an embedded start timecode (10:00:00:00) got an in
point ten hours into the file, and it names producers by clip name. MLT counts a producer's
frames from the file's first frame at the profile's rate; that is what is written here."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from fractions import Fraction

from shotseek.pipeline.export.selects import Length, Select
from shotseek.pipeline.export.timeline import note_of


def _profile_frame(frame: int, file_rate: Fraction, profile_rate: Fraction) -> int:
    return frame if file_rate == profile_rate else round(frame / file_rate * profile_rate)


def write_mlt(selects: Sequence[Select], title: str, gap: Length) -> str:
    """One playlist of the selects (a blank of ``gap`` between them) in a profile of the
    first select's frame size and rate; one producer per select, noting why it is there."""
    first = selects[0]
    rate = first.clock.fps
    root = ElementTree.Element(
        "mlt", {"LC_NUMERIC": "C", "version": "7.0.0", "title": title, "producer": "main_bin"}
    )
    ElementTree.SubElement(
        root,
        "profile",
        {
            "description": f"{first.width}x{first.height} {first.clock.label}",
            "width": str(first.width),
            "height": str(first.height),
            "progressive": "1",
            "sample_aspect_num": "1",
            "sample_aspect_den": "1",
            "display_aspect_num": str(first.width),
            "display_aspect_den": str(first.height),
            "frame_rate_num": str(rate.numerator),
            "frame_rate_den": str(rate.denominator),
            "colorspace": "709",
        },
    )
    playlist = ElementTree.Element("playlist", {"id": "playlist0"})
    for i, select in enumerate(selects):
        own = select.clock.fps
        begin = _profile_frame(select.in_frame, own, rate)
        end = _profile_frame(select.out_frame, own, rate) - 1
        last = _profile_frame(select.total_frames, own, rate) - 1
        producer = ElementTree.SubElement(
            root, "producer", {"id": f"producer{i}", "in": "0", "out": str(last)}
        )
        for name, value in (
            ("resource", select.path),
            ("mlt_service", "avformat"),
            ("shotseek:note", note_of(select)),
            ("shotseek:shot_id", select.shot.shot_id),
            ("shotseek:source_in", select.source_in),
        ):
            ElementTree.SubElement(producer, "property", {"name": name}).text = value
        if i and (gap.frames or gap.seconds):
            ElementTree.SubElement(playlist, "blank", {"length": str(gap.frames_at(first.clock))})
        ElementTree.SubElement(
            playlist, "entry", {"producer": f"producer{i}", "in": str(begin), "out": str(end)}
        )
    root.append(playlist)
    tractor = ElementTree.SubElement(root, "tractor", {"id": "tractor0"})
    ElementTree.SubElement(tractor, "track", {"producer": "playlist0"})
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(
        root, encoding="unicode"
    )
