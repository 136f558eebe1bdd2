"""`shotseek eval`: a time-coded log as ground truth, the way a documentalist writes one. The
generated archive's own log is the CI's retrieval benchmark: a quality regression fails here."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shotseek.pipeline.timecode import format_timecode
from shotseek.server.cli import app
from tests.conftest import TINY_CLIP
from tests.kit.archive import indexed_store
from tests.kit.footage import random_footage, standard_footage

runner = CliRunner()

# Today's figures on the generated log below (20 lines, tiny CLIP fixture): R@1 0.65, R@2 0.85,
# R@5 1.00 (a label recurs across videos and scenes; only the logged occurrence counts). The
# floors sit just under them, so a retrieval regression fails the build.
R1_FLOOR, R5_FLOOR = 0.60, 0.95


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Three indexed videos and their log: every segment, described by its caption."""
    root = tmp_path_factory.mktemp("eval")
    media = root / "media"
    footages = [
        standard_footage(media / "standard.mp4"),
        random_footage(media / "random-a.mp4", seed=21),
        random_footage(media / "random-b.mp4", seed=22),
    ]
    data = root / "data"
    indexed_store(media, data)[1].close()
    rows = [
        (f.path.name, format_timecode(s.start), format_timecode(s.end), s.label)
        for f in footages
        for s in f.segments
    ]
    return data, rows


@pytest.fixture
def env(archive, monkeypatch):
    data, _ = archive
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(data))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")


def _write(path, rows, sep=","):
    lines = [sep.join(("video", "start", "end", "query"))]
    lines += [sep.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_generated_log_is_answered_above_the_floor(archive, env, tmp_path):
    _, rows = archive
    log = _write(tmp_path / "log.csv", rows)
    result = runner.invoke(app, ["eval", str(log), "--json"])
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)["runs"]
    assert run["queries"] == len(rows) and run["mode"] == "clip"
    recall = {int(k): v for k, v in run["recall"].items()}
    assert recall[1] >= R1_FLOOR and recall[5] >= R5_FLOOR, recall
    assert list(recall) == [1, 2, 5, 10, 20, 50]
    assert recall == dict(sorted(recall.items())) and all(
        a <= b for a, b in zip(list(recall.values()), list(recall.values())[1:])
    )
    assert 0 < run["mrr"] <= 1 and run["median_rank"] >= 1


def test_bad_lines_and_unknown_videos_are_reported_and_skipped(archive, env, tmp_path):
    _, rows = archive
    bad = [
        ("standard.mp4", "00:00:05", "00:00:01", "backwards"),
        ("standard.mp4", "five", "00:00:09", "not a time"),
        ("standard.mp4", "00:00:01", "00:00:02", ""),
        ("elsewhere.mp4", "00:00:01", "00:00:04", "a red circle"),
    ]
    log = _write(tmp_path / "log.tsv", [*rows[:3], *bad], sep="\t")  # tab-separated works too
    result = runner.invoke(app, ["eval", str(log)])
    assert result.exit_code == 0, result.output
    err = " ".join(result.stderr.split())
    assert f"{log}: line 5: ends (00:00:01) before it starts" in err
    assert "line 6:" in err and "line 7: no description" in err
    assert "not indexed, skipped: elsewhere.mp4" in err and "4 log lines skipped" in err
    assert "R@1" in result.stdout and "MRR" in result.stdout
    unreadable = _write(tmp_path / "bad.csv", [("a", "b")])
    unreadable.write_text("file,from,to\nx,1,2\n")
    refused = runner.invoke(app, ["eval", str(unreadable)])
    assert refused.exit_code == 2 and "missing: video, start, end, query" in refused.stderr


def test_tolerance_widens_the_span_and_per_query_shows_each_rank(archive, env, tmp_path):
    _, rows = archive
    video, start, end, label = rows[0]
    shifted = [(video, "00:00:40", "00:00:41", label)]  # past the video's end: nothing there
    log = _write(tmp_path / "log.csv", shifted)
    strict = json.loads(runner.invoke(app, ["eval", str(log), "--json"]).stdout)["runs"][0]
    loose = json.loads(
        runner.invoke(app, ["eval", str(log), "--json", "--tolerance", "60"]).stdout
    )["runs"][0]
    assert strict["outcomes"][0]["rank"] is None  # widened by 60 s it covers the whole video:
    assert 1 <= loose["outcomes"][0]["rank"] <= 5  # its first hit in that video counts
    shown = runner.invoke(app, ["eval", str(log), "--per-query", "--tolerance", "60"])
    assert "00:00:40.000" in shown.stdout and label in shown.stdout


def test_compare_runs_every_mode_side_by_side(archive, env, tmp_path):
    _, rows = archive
    log = _write(tmp_path / "log.csv", rows[:6])
    result = runner.invoke(app, ["eval", str(log), "--compare", "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [r["mode"] for r in runs] == ["clip", "caption", "hybrid"]
    assert runs[1]["recall"]["1"] == 0.0  # nothing captioned: caption search finds nothing
    human = runner.invoke(app, ["eval", str(log), "--compare"])
    assert "best in its column" in human.stderr and "*" in human.stdout


def test_the_html_report_draws_every_run_and_lists_the_misses_as_text(archive, env, tmp_path):
    """`--report`: one SVG curve per run (readable without script), the table, the queries a
    run misses; a query with markup in it stays text."""
    from html.parser import HTMLParser

    _, rows = archive
    hostile = "<script>alert(1)</script> a red circle"
    log = _write(tmp_path / "log.csv", [*rows[:5], (rows[0][0], rows[0][1], rows[0][2], hostile)])
    report = tmp_path / "out" / "report.html"
    result = runner.invoke(app, ["eval", str(log), "--compare", "--report", str(report), "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]

    class Page(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tags: list[str] = []
            self.curves: list[str] = []
            self.text: list[str] = []

        def handle_starttag(self, tag, attrs):
            self.tags.append(tag)
            if tag == "polyline":
                self.curves.append(dict(attrs)["points"])

        def handle_data(self, data):
            self.text.append(data)

    page = Page()
    page.feed(report.read_text("utf-8"))
    assert "script" not in page.tags  # no script of its own, none from the log
    assert len(page.curves) == len(runs) == 3
    for curve, run in zip(page.curves, runs):
        assert len(curve.split()) == len(run["recall"])  # a point per K
    text = "".join(page.text)
    assert hostile in text  # shown as the words it is
    for run in runs:
        assert run["name"] in text and f"{run['mrr']:.3f}" in text
    missed_by_caption = [o for o in runs[1]["outcomes"] if o["rank"] is None]
    assert missed_by_caption and "Missed queries" in text


def _on_frames(text: str, rate) -> tuple[str, str]:
    """A logged time on the nearest frame at ``rate``, as ``HH:MM:SS.mmm`` and as a
    documentalist's ``HH:MM:SS:FF``."""
    from shotseek.pipeline.timecode import parse_timecode

    nominal = round(rate)
    frames = round(parse_timecode(text) * rate)
    whole, frame = divmod(frames, nominal)
    smpte = f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{frame:02d}"
    return format_timecode(parse_timecode(smpte, rate)), smpte


def test_a_log_in_hh_mm_ss_ff_is_read_at_each_video_s_frame_rate(archive, env, tmp_path):
    from fractions import Fraction

    from shotseek.pipeline.video import probe

    data, rows = archive
    rates = {  # the generated footage runs at about 10 fps; each file's own rate reads its log
        name: Fraction(probe(data.parent / "media" / name).average_fps).limit_denominator(1001)
        for name in {row[0] for row in rows}
    }
    spans = [
        (video, _on_frames(start, rates[video]), _on_frames(end, rates[video]), label)
        for video, start, end, label in rows
    ]
    seconds = [(video, start[0], end[0], label) for video, start, end, label in spans]
    framed = [(video, start[1], end[1], label) for video, start, end, label in spans]
    in_seconds = json.loads(
        runner.invoke(app, ["eval", str(_write(tmp_path / "s.csv", seconds)), "--json"]).stdout
    )["runs"][0]
    bad = [
        ("standard.mp4", "00:00:01:30", "00:00:02:00", "frame 30 of a 10 fps video"),
        ("standard.mp4", "00:00:01;05", "00:00:02;00", "drop-frame at 10 fps"),
    ]
    result = runner.invoke(app, ["eval", str(_write(tmp_path / "f.csv", framed + bad)), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    run = report["runs"][0]
    assert run["recall"] == in_seconds["recall"]  # the same spans, to the frame
    assert [o["start_tc"] for o in run["outcomes"]] == [
        o["start_tc"] for o in in_seconds["outcomes"]
    ]
    reasons = {p["line"]: p["reason"] for p in report["problems"]}
    first_bad = len(framed) + 2
    assert "frame 30" in reasons[first_bad] and "frames run 0-9" in reasons[first_bad]
    assert "drop-frame" in reasons[first_bad + 1] and "29.97 and 59.94" in reasons[first_bad + 1]
    assert report["skipped"] == 2


def test_msrvtt_s_test_split_becomes_a_log_that_eval_reads(tmp_path, monkeypatch):
    """bench/msrvtt_log.py on a tiny set in MSR-VTT's layout (JSFusion's CSV, <video_id>.mp4
    clips): a line per caption over its whole clip, missing clips named, links to the split's
    clips alone; `shotseek eval` answers the log."""
    from bench.msrvtt_log import main
    from tests.kit.footage import Scene, make_footage

    clips = tmp_path / "MSRVTT" / "videos" / "all"
    make_footage(clips / "video7010.mp4", [Scene("red", "circle", 2.0)])
    make_footage(clips / "video7020.mp4", [Scene("blue", "square", 2.5)])
    make_footage(clips / "video9999.mp4", [Scene("green", "star", 2.0)])  # not in the split
    split = tmp_path / "MSRVTT_JSFUSION_test.csv"
    split.write_text(
        "key,vid_key,video_id,sentence\n"
        "ret0,msr7010,video7010,a red circle on grey\n"
        'ret1,msr7020,video7020,"a blue square, turning"\n'
        "ret2,msr7030,video7030,a clip nobody downloaded\n"
    )
    log, linked = tmp_path / "msrvtt-1k-a.csv", tmp_path / "split"
    assert main([str(split), str(clips), "-o", str(log), "--link-to", str(linked)]) == 0
    lines = log.read_text().splitlines()
    assert lines[0] == "video,start,end,query"
    from shotseek.pipeline.video import probe

    ends = [format_timecode(probe(clips / f"video70{n}0.mp4").duration) for n in (1, 2)]
    assert lines[1:] == [
        f"video7010.mp4,00:00:00.000,{ends[0]},a red circle on grey",
        f'video7020.mp4,00:00:00.000,{ends[1]},"a blue square, turning"',
    ]
    assert sorted(p.name for p in linked.iterdir()) == ["video7010.mp4", "video7020.mp4"]

    data = tmp_path / "data"
    indexed_store(linked, data)[1].close()
    monkeypatch.setenv("SHOTSEEK_DATA_DIR", str(data))
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    result = runner.invoke(app, ["eval", str(log), "--json"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(result.stdout)["runs"]
    assert run["queries"] == 2 and run["recall"]["2"] == 1.0  # two clips: found in two hits
