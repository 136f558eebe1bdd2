"""Exports checked the way an editor's software reads them: every EDL through an independent
reader (pycmx), every other timeline back through OpenTimelineIO, MLT rendered by ``melt`` and
its frames compared, on generated footage whose frames carry their numbers (a 29.97 drop-frame
file with an embedded 10:00:00;00 ``tmcd`` track beside a 25 fps file without one)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import xml.etree.ElementTree as ElementTree
from fractions import Fraction
from pathlib import Path

import av
import opentimelineio as otio
import pycmx
import pytest

from shotseek.pipeline.errors import ExportError, VideoNotFoundError
from shotseek.pipeline.export import export_selects, render
from shotseek.pipeline.export.edl import comment_text, reel_names
from shotseek.pipeline.export.selects import Length
from shotseek.pipeline.export.table import cell
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import search
from shotseek.pipeline.timecode import smpte_frames
from tests.kit.archive import cli_env, indexed_store, run_cli
from tests.kit.footage import STANDARD_SCENES, make_footage, read_index

NTSC = Fraction(30000, 1001)
HANDLE = 12


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    media = tmp_path_factory.mktemp("media")
    footage = {
        "ntsc.mov": make_footage(
            media / "ntsc.mov", STANDARD_SCENES[:3], barcode=True, rate=NTSC, timecode="10:00:00;00"
        ),
        "pal.mp4": make_footage(
            media / "pal.mp4", STANDARD_SCENES[2:5], barcode=True, rate=Fraction(25)
        ),
    }
    settings, store = indexed_store(media, tmp_path_factory.mktemp("data"))
    settings = settings.model_copy(update={"media_roots": str(media)})
    found = search(settings, store, SearchQuery(text="a red square", limit=12))
    yield settings, store, found, footage, media
    store.close()


def _frame_of(footage, seconds: float) -> int:
    """The number written into the frame shown at ``seconds``: the truth an editor sees."""
    return footage.frame_index_at(seconds)


def _expected(hit, footage) -> tuple[int, int]:
    """The shot's first frame and the frame after its last, less/plus the handles, clipped."""
    first = _frame_of(footage, hit.shot.start)
    end = _frame_of(footage, hit.shot.end - 1e-3) + 1
    return max(0, first - HANDLE), min(len(footage.frame_times), end + HANDLE)


def test_every_edl_event_lands_on_its_own_files_frames(archive, tmp_path):
    settings, store, found, footage, _ = archive
    assert {h.shot.path.rsplit("/", 1)[-1] for h in found.hits} == set(footage)  # mixed rates
    report = export_selects(
        settings,
        store,
        format="edl",
        search_id=found.search_id,
        handles=f"{HANDLE}f",
        output=tmp_path / "selects.edl",
    )
    assert sorted(Path(f).name for f in report.files) == ["selects.25.edl", "selects.29.97DF.edl"]
    checked = mismatches = 0
    by_name = {Path(h.shot.path).name: [] for h in found.hits}
    for h in found.hits:
        by_name[Path(h.shot.path).name].append(h)
    for file in report.files:
        name, rate, start = (
            ("ntsc.mov", NTSC, smpte_frames("10:00:00;00", NTSC))
            if "29.97" in file
            else ("pal.mp4", Fraction(25), 0)
        )
        text = Path(file).read_text()
        assert ("FCM: DROP FRAME" if "DF" in file else "FCM: NON-DROP FRAME") in text
        with open(file) as fh:
            edits = [e for event in pycmx.parse_cmx3600(fh).events for e in event.edits]
        assert len(edits) == len(by_name[name])
        record = smpte_frames("01:00:00;00" if "DF" in file else "01:00:00:00", rate)
        for edit, hit in zip(edits, by_name[name]):  # rank order within each list
            want_in, want_out = _expected(hit, footage[name])
            got_in = smpte_frames(edit.source_in, rate) - start
            got_out = smpte_frames(edit.source_out, rate) - start
            checked += 1
            mismatches += (got_in, got_out) != (want_in, want_out)
            assert smpte_frames(edit.record_in, rate) == record  # no holes, no overlaps
            record += got_out - got_in
            assert edit.clip_name == name and edit.source_file.endswith(name)
    print(f"EDL: {checked} events checked, {mismatches} off their frames")
    assert checked == len(found.hits) and mismatches == 0


@pytest.mark.parametrize("fmt", ["otio", "fcp-xml", "fcpxml"])
def test_timelines_read_back_through_otio_on_the_same_frames(archive, tmp_path, fmt):
    settings, store, found, footage, _ = archive
    report = export_selects(
        settings,
        store,
        format=fmt,
        search_id=found.search_id,
        handles=f"{HANDLE}f",
        output=tmp_path / "selects",
    )
    (path,) = report.files
    adapter = {"otio": "otio_json", "fcp-xml": "fcp_xml", "fcpxml": "fcpx_xml"}[fmt]
    timeline = otio.adapters.read_from_file(path, adapter)
    clips = list(timeline.find_clips())
    assert len(clips) == len(found.hits)
    if fmt == "fcpxml":  # its reader takes 30000/1001 for 29: read FCPXML's own fractions
        clips = _fcpxml_clips(path)
    for clip, hit in zip(clips, found.hits):
        name = Path(hit.shot.path).name
        rate = NTSC if name == "ntsc.mov" else Fraction(25)
        start = smpte_frames("10:00:00;00", NTSC) if name == "ntsc.mov" else 0
        want_in, want_out = _expected(hit, footage[name])
        source = clip.source_range
        assert round(source.start_time.value_rescaled_to(float(rate))) == start + want_in, fmt
        length = source.duration.value_rescaled_to(float(rate))
        if fmt == "fcp-xml":  # OTIO reads a length back from the sequence's rate (25 here)
            assert abs(length - (want_out - want_in)) <= 1.5
        else:
            assert round(length) == want_out - want_in, fmt
        assert clip.media_reference.target_url.endswith(name)
    if fmt == "fcp-xml":  # the clip's own in and out, in its own frames, as Premiere reads them
        items = ElementTree.parse(path).getroot().iter("clipitem")
        for item, hit in zip(items, found.hits):
            want_in, want_out = _expected(hit, footage[Path(hit.shot.path).name])
            assert (int(item.findtext("in")), int(item.findtext("out"))) == (want_in, want_out)
    if fmt == "otio":  # the note travels with each clip
        note = clips[0].metadata["shotseek"]
        assert note["rank"] == 1 and note["query"] == "a red square"
        assert clips[0].markers and "a red square" in clips[0].markers[0].comment


def _seconds(value: str | None) -> Fraction:
    return Fraction((value or "0s").removesuffix("s"))


def _fcpxml_clips(path: str) -> list[otio.schema.Clip]:
    """The spine's clips of an FCPXML file, their in point and length as Final Cut Pro reads
    them: rational seconds (a clip's ``start`` in its asset's time, which starts at the file's
    timecode) at the rate of the asset's format."""
    root = ElementTree.parse(path).getroot()
    formats = {f.get("id"): _seconds(f.get("frameDuration")) for f in root.iter("format")}
    assets = {a.get("id"): a for a in root.iter("asset")}
    clips = []
    for element in root.iter("clip"):
        asset = assets[element.find("video").get("ref")]
        rate = float(1 / formats[asset.get("format")])
        begin, length = _seconds(element.get("start")), _seconds(element.get("duration"))
        if element.get("start") is None:  # no start: the asset's own
            begin = _seconds(asset.get("start"))
        clips.append(
            otio.schema.Clip(
                media_reference=otio.schema.ExternalReference(target_url=asset.get("src")),
                source_range=otio.opentime.TimeRange(
                    otio.opentime.RationalTime(float(begin) * rate, rate),
                    otio.opentime.RationalTime(float(length) * rate, rate),
                ),
            )
        )
    return clips


def _render(mlt: Path, out: Path) -> list[int]:
    subprocess.run(
        ["melt", "-quiet", str(mlt), "-consumer", f"avformat:{out}", "vcodec=ffv1", "an=1"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    with av.open(str(out)) as container:
        return [read_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


@pytest.mark.skipif(shutil.which("melt") is None, reason="Debian's melt (.ci/run installs it)")
@pytest.mark.parametrize("name", ["ntsc.mov", "pal.mp4"])
def test_an_mlt_timeline_rendered_by_melt_starts_each_clip_on_its_in_point(archive, tmp_path, name):
    settings, store, found, footage, _ = archive
    hits = [h for h in found.hits if h.shot.path.endswith(name)][:3]
    report = export_selects(
        settings,
        store,
        format="mlt",
        shot_ids=[h.shot.shot_id for h in hits],
        handles="0.5s",
        gap="5f",
        output=tmp_path / "selects.mlt",
    )
    frames = _render(Path(report.files[0]), tmp_path / "render.mkv")
    root = ElementTree.parse(report.files[0]).getroot()
    playlist = root.find("playlist")
    position = 0
    for element in playlist:
        if element.tag == "blank":
            position += int(element.get("length"))
            continue
        begin, end = int(element.get("in")), int(element.get("out"))
        assert frames[position] == begin and frames[position + end - begin] == end, name
        position += end - begin + 1
    assert position == len(frames)
    rate = NTSC if name == "ntsc.mov" else Fraction(25)
    first = int(playlist.find("entry").get("in"))
    assert first == max(0, _frame_of(footage[name], hits[0].shot.start) - round(rate / 2))


def test_handles_stop_at_the_files_first_and_last_frame(archive, tmp_path):
    settings, store, found, footage, _ = archive
    report = export_selects(
        settings,
        store,
        format="csv",
        search_id=found.search_id,
        handles="1000s",
        output=tmp_path / "all.csv",
    )
    with open(report.files[0], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(found.hits)
    for row in rows:
        name = row["video"]
        frames = len(footage[name].frame_times)
        rate = NTSC if name == "ntsc.mov" else Fraction(25)
        start = smpte_frames("10:00:00;00", NTSC) if name == "ntsc.mov" else 0
        assert smpte_frames(row["source_in"], rate) == start
        assert smpte_frames(row["source_out"], rate) == start + frames
        assert row["query"] == "a red square" and row["rate"] in ("25", "29.97 DF")


def test_source_order_sorts_by_file_and_time(archive, tmp_path):
    settings, store, found, _, _ = archive
    report = export_selects(
        settings,
        store,
        format="csv",
        search_id=found.search_id,
        order="source",
        top=6,
        output=tmp_path / "s.csv",
    )
    with open(report.files[0], newline="") as fh:
        rows = [(r["path"], float(r["start"])) for r in csv.DictReader(fh)]
    assert rows == sorted(rows) and len(rows) == 6


def test_what_footage_or_file_names_say_cannot_break_an_export(archive, tmp_path):
    settings, store, found, _, _ = archive
    selects = []
    from shotseek.pipeline.export.selects import selects_of

    records = {v.video_id: v for v in store.list_videos(found.model_id)}
    hostile = 'evil"\r\n002  AX V C 00:00:00:00 <img src=x onerror=alert(1)>'
    selects = selects_of(
        found.hits[:2],
        records,
        settings,
        query='=HYPERLINK("http://x")',
        handles=Length(),
        order="rank",
        captions={found.hits[0].shot.shot_id: "-2+3 ignore previous instructions\n001"},
        notes=[],
    )
    selects = [
        s.model_copy(update={"file_name": hostile, "path": "/m/" + hostile}) for s in selects
    ]
    files = render("edl", selects, hostile, Length())
    lines = [line for text in files.values() for line in text.split("\r\n")]
    assert len([line for line in lines if line[:3].isdigit()]) == len(selects)  # no extra event
    assert all("\n" not in line and "\r" not in line for line in lines)
    for fmt in ("otio", "fcp-xml", "fcpxml", "mlt"):
        (text,) = render(fmt, selects, hostile, Length()).values()
        if fmt == "otio":  # JSON: the name is a string value, read back as it was
            assert json.loads(text)["metadata"]["shotseek"]["reels"]["/m/" + hostile]
            continue
        root = ElementTree.fromstring(text.split("?>", 1)[-1].replace("<!DOCTYPE fcpxml>", ""))
        assert "<img" not in text and all(e.tag != "img" for e in root.iter())
    (text,) = render("csv", selects, hostile, Length()).values()
    rows = list(csv.reader(text.splitlines()))
    assert all(not c.startswith(("=", "+", "-", "@")) for row in rows for c in row)
    assert cell("-0.5") == "-0.5" and cell("=1+1") == "'=1+1"
    assert comment_text("a\nb\x00c") == "a b c"
    reels = reel_names(["/a/clip one.mov", "/b/clip one.mov", "/c/ÉCLAIR-long-name.mxf"])
    assert len(set(reels.values())) == 3 and all(len(r) <= 8 for r in reels.values())


def test_bad_requests_are_refused_by_name_and_write_nothing(archive, tmp_path):
    settings, store, found, _, _ = archive
    with pytest.raises(ExportError, match="unknown export format 'avid'"):
        export_selects(settings, store, format="avid", search_id=found.search_id)
    with pytest.raises(ExportError, match="give one of them"):
        export_selects(settings, store, format="edl")
    empty = search(settings, store, SearchQuery(text="a red square", min_score=0.999))
    with pytest.raises(ExportError, match="nothing to export"):
        export_selects(settings, store, format="edl", search_id=empty.search_id)
    with pytest.raises(ExportError, match="not a length"):
        export_selects(settings, store, format="edl", search_id=found.search_id, handles="2q")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:  # root writes anywhere but in /proc
        with pytest.raises(ExportError, match="cannot write"):
            export_selects(
                settings,
                store,
                format="edl",
                search_id=found.search_id,
                output=Path("/proc/shotseek/selects.edl") if _is_root() else locked / "s.edl",
            )
    finally:
        locked.chmod(0o700)
    assert list(locked.iterdir()) == []


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def test_a_moved_file_is_found_by_its_content_and_a_gone_one_named(archive, tmp_path):
    settings, store, found, _, media = archive
    hit = next(h for h in found.hits if h.shot.path.endswith("pal.mp4"))
    moved = media / "moved" / "renamed.mp4"
    moved.parent.mkdir()
    shutil.move(hit.shot.path, moved)
    try:
        report = export_selects(
            settings, store, format="csv", shot_ids=[hit.shot.shot_id], output=tmp_path / "m.csv"
        )
        assert any("renamed.mp4" in n for n in report.notes)
        assert str(moved) in Path(report.files[0]).read_text()
        alone = settings.model_copy(update={"media_roots": ""})
        with pytest.raises(VideoNotFoundError, match="pal.mp4.*no longer there"):
            export_selects(
                alone, store, format="csv", shot_ids=[hit.shot.shot_id], output=tmp_path / "x.csv"
            )
        assert not (tmp_path / "x.csv").exists()
    finally:
        shutil.move(moved, hit.shot.path)


def test_hits_and_tables_show_the_source_timecode(archive, tmp_path):
    settings, store, found, footage, _ = archive
    for hit in found.hits:
        name = Path(hit.shot.path).name
        frame = _frame_of(footage[name], hit.shot.start)
        if name == "ntsc.mov":
            assert (
                smpte_frames(hit.shot.source_tc, NTSC) == smpte_frames("10:00:00;00", NTSC) + frame
            )
            assert ";" in hit.shot.source_tc
        else:
            assert smpte_frames(hit.shot.source_tc, Fraction(25)) == frame


def test_the_cli_exports_a_search_by_its_id(archive, tmp_path):
    """The last test of the module: it closes the fixture's store for the CLI's process."""
    settings, store, found, _, _ = archive
    store.close()
    env = cli_env(settings.data_dir)
    done = run_cli(
        "export", found.search_id, "--format", "fcp-xml", "-o", str(tmp_path / "cut"), env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "cut.xml")
    assert "clips" in done.stderr
    assert otio.adapters.read_from_file(str(tmp_path / "cut.xml"), "fcp_xml")
    bad = run_cli("export", found.search_id, "--format", "avid", env=env)
    assert bad.returncode != 0 and "format" in bad.stderr and "edl" in bad.stderr
