"""Selects as an OpenTimelineIO timeline, and the formats OTIO's maintained adapters write from
it: ``.otio`` (core), FCP 7 XML (``otio-fcp-adapter``) and FCPXML (``otio-fcpx-xml-adapter``).

Each clip's source range is in its own file's frames at its exact rate, offset by the file's
embedded start timecode (the media reference's available range starts there), so a clip's
source timecode is the one the editor's own bin shows."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from fractions import Fraction

import opentimelineio as otio
from opentimelineio import opentime

from shotseek.pipeline.export.selects import Length, Select
from shotseek.pipeline.timecode import STANDARD_RATES, smpte_frames

#: Where a timeline's record timecode starts, as editors start a sequence.
RECORD_START = "01:00:00:00"

#: The note each clip carries: the metadata namespace readers find shotseek's fields in.
META = "shotseek"


def _time(frames: int, rate: Fraction) -> opentime.RationalTime:
    return opentime.RationalTime(frames, float(rate))


def record_start(rate: Fraction, drop_frame: bool) -> int:
    label = RECORD_START[:-3] + (";" if drop_frame else ":") + RECORD_START[-2:]
    return smpte_frames(label, rate)


def note_of(select: Select) -> str:
    """One line that says why this clip is here: rank, score, query, verdict, caption."""
    parts = [f"#{select.rank}" if select.rank is not None else f"shot {select.number}"]
    if select.score is not None:
        parts.append(f"score {select.score:.3f}")
    if select.query:
        parts.append(f"query: {select.query}")
    if select.match is not None:
        parts.append("VLM: match" if select.match else "VLM: no match")
    if select.caption:
        parts.append(f"caption: {select.caption}")
    return " | ".join(parts)


def metadata_of(select: Select) -> dict:
    return {
        "rank": select.rank,
        "score": select.score,
        "query": select.query,
        "shot_id": select.shot.shot_id,
        "video_id": select.shot.video_id,
        "path": select.path,
        "start": select.shot.start,
        "end": select.shot.end,
        "source_in": select.clock.timecode(select.first_frame),
        "source_out": select.clock.timecode(select.end_frame),
        "rate": select.clock.rate,
        "match": select.match,
        "relevance": select.relevance,
        "caption": select.caption,
    }


def build_timeline(
    selects: Sequence[Select], title: str, gap: Length, reels: dict[str, str]
) -> otio.schema.Timeline:
    """One video track of the selects in order, a gap of ``gap`` between clips; each clip
    carries a marker on the shot's first frame and the note in its metadata, each media
    reference the file's reel name (``reels``: path → reel)."""
    timeline = otio.schema.Timeline(name=title)
    timeline.metadata[META] = {"reels": reels}
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    if selects:
        first = selects[0].clock
        timeline.global_start_time = _time(record_start(first.fps, first.drop_frame), first.fps)
    for i, select in enumerate(selects):
        clock = select.clock
        rate, start = clock.fps, clock.start_frame
        if i and (gap.frames or gap.seconds):
            track.append(otio.schema.Gap(duration=_time(gap.frames_at(clock), rate)))
        reference = otio.schema.ExternalReference(
            target_url=otio.url_utils.url_from_filepath(select.path),
            available_range=opentime.TimeRange(
                _time(start, rate), _time(select.total_frames, rate)
            ),
        )
        reference.name = select.file_name
        if clock.drop_frame:  # the FCP 7 adapter reads the timecode's display from here
            reference.metadata["fcp_xml"] = {"timecode": {"displayformat": "DF"}}
        reference.metadata[META] = {"reel": reels[select.path], "rate": clock.rate}
        clip = otio.schema.Clip(
            name=f"{select.number:03d} {select.file_name} {clock.timecode(select.first_frame)}",
            media_reference=reference,
            source_range=opentime.TimeRange(
                _time(start + select.in_frame, rate), _time(select.frames, rate)
            ),
        )
        clip.metadata[META] = metadata_of(select)
        clip.metadata["cmx_3600"] = {"reel": reels[select.path]}
        clip.markers.append(
            otio.schema.Marker(
                name=note_of(select)[:200],
                marked_range=opentime.TimeRange(
                    _time(start + select.first_frame, rate), _time(1, rate)
                ),
                color=_color(select),
                comment=note_of(select),
            )
        )
        track.append(clip)
    return timeline


def _color(select: Select) -> str:
    if select.match is False:
        return otio.schema.MarkerColor.RED
    return otio.schema.MarkerColor.GREEN


def write_otio(timeline: otio.schema.Timeline) -> str:
    return otio.adapters.write_to_string(timeline, "otio_json")


def write_fcp_xml(timeline: otio.schema.Timeline) -> str:
    return otio.adapters.write_to_string(timeline, "fcp_xml")


def write_fcpxml(timeline: otio.schema.Timeline, selects: Sequence[Select]) -> str:
    """FCPXML for Final Cut Pro. The adapter (1.0.0) knows only rates it lists as rounded
    floats (29.97, not 30000/1001: every NTSC clip got an empty frameDuration) and leaves a
    format's frame size to ffprobe; both are given here from what shotseek read of the file."""
    from otio_fcpx_xml_adapter import fcpx_xml

    for rate in STANDARD_RATES:
        fcpx_xml.FRAMERATE_FRAMEDURATION.setdefault(
            float(rate), f"{rate.denominator}/{rate.numerator}s"
        )
    text = otio.adapters.write_to_string(timeline, "fcpx_xml")
    return _sized_formats(text, selects)


def _sized_formats(text: str, selects: Sequence[Select]) -> str:
    """Give each FCPXML ``format`` the frame size of the files whose assets use it."""
    root = ElementTree.fromstring(text.split("?>", 1)[-1].replace("<!DOCTYPE fcpxml>", ""))
    sizes = {
        otio.url_utils.url_from_filepath(s.path): (s.width, s.height, s.clock) for s in selects
    }
    resources = root.find("resources")
    if resources is None:
        return text
    formats = {f.get("id"): f for f in resources.findall("format")}
    for asset in resources.findall("asset"):
        found = sizes.get(asset.get("src", ""))
        element = formats.get(asset.get("format"))
        if found is None or element is None:
            continue
        width, height, clock = found
        element.set("width", str(width))
        element.set("height", str(height))
        element.set("frameDuration", f"{clock.fps.denominator}/{clock.fps.numerator}s")
    body = ElementTree.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE fcpxml>\n' + body + "\n"
