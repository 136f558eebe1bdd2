from fractions import Fraction

import pytest

from shotseek.pipeline.models import Span
from shotseek.pipeline.timecode import format_timecode, parse_timecode


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00.000"),
        (1.5, "00:00:01.500"),
        (61.0004, "00:01:01.000"),
        (3599.9996, "01:00:00.000"),
        (3 * 3600 + 25 * 60 + 7.25, "03:25:07.250"),
    ],
)
def test_format_timecode_renders_hours_minutes_seconds_millis(seconds, text):
    assert format_timecode(seconds) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:01:30.500", 90.5), ("01:30", 90.0), ("90.5", 90.5), (12, 12.0), ("1:00:00", 3600.0)],
)
def test_parse_timecode_accepts_timecodes_and_seconds(text, seconds):
    assert parse_timecode(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["abc", "-1", "1:2:3:4", ""])
def test_parse_timecode_rejects_garbage_with_a_hint(bad):
    with pytest.raises(ValueError, match="HH:MM:SS|non-negative"):
        parse_timecode(bad)


def test_negative_timecode_is_refused():
    with pytest.raises(ValueError):
        format_timecode(-0.5)


def test_span_dumps_seconds_and_timecodes():
    span = Span(start=62.5, end=65.0)
    assert span.model_dump() == {
        "start": 62.5,
        "end": 65.0,
        "start_tc": "00:01:02.500",
        "end_tc": "00:01:05.000",
    }
    assert span.duration == 2.5


def test_span_cannot_end_before_it_starts():
    with pytest.raises(ValueError, match="before it starts"):
        Span(start=5, end=4)


@pytest.mark.parametrize("bad", ["00:00:99", "01:60", "00:61:00", "1:00:60.5"])
def test_a_field_after_the_first_runs_0_to_59(bad):
    with pytest.raises(ValueError, match="run 0-59"):
        parse_timecode(bad)


def test_a_leading_field_may_exceed_59():
    assert parse_timecode("90:00") == 5400.0  # 90 minutes, as MM:SS
    assert parse_timecode("125") == 125.0


@pytest.mark.parametrize(
    ("text", "rate", "seconds"),
    [
        ("00:00:01:12", 25, 1.48),
        ("10:00:00:00", 25, 36000.0),
        ("00:00:01:00", Fraction(24000, 1001), 24 / (24000 / 1001)),  # non-drop 23.976
        ("00:01:00:00", Fraction(30000, 1001), 1800 / (30000 / 1001)),  # non-drop 29.97
        ("00:01:00;02", Fraction(30000, 1001), 1800 / (30000 / 1001)),  # labels ;00 ;01 skipped
        ("00:10:00;00", Fraction(30000, 1001), 17982 / (30000 / 1001)),  # tenth minute: kept
        ("01:00:00;00", Fraction(30000, 1001), 107892 / (30000 / 1001)),  # 3.6 s before 1 h
        ("00:01:00;04", Fraction(60000, 1001), 3600 / (60000 / 1001)),  # 59.94 drops four
        ("00:00:00:49", 50, 0.98),
    ],
)
def test_smpte_frame_timecodes_count_frames_at_the_video_s_rate(text, rate, seconds):
    assert parse_timecode(text, rate) == pytest.approx(seconds, abs=1e-9)
    assert parse_timecode(text, float(rate)) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    ("text", "rate", "problem"),
    [
        ("00:00:01:12", None, "frame rate"),
        ("00:00:01:25", 25, "frames run 0-24"),
        ("00:01:00;00", Fraction(30000, 1001), "does not exist in drop-frame"),
        ("00:00:01;00", 25, "29.97 and 59.94"),
    ],
)
def test_frame_timecodes_that_cannot_be_read_say_why(text, rate, problem):
    with pytest.raises(ValueError, match=problem):
        parse_timecode(text, rate)


def test_milliseconds_are_not_taken_for_frames():
    assert parse_timecode("00:01:30.500") == 90.5
    assert parse_timecode("00:01:30.500", 25) == 90.5


# -- frames and SMPTE timecode ------------------------------------------------------------------

from shotseek.pipeline.timecode import (  # noqa: E402
    clock_for,
    exact_rate,
    smpte,
    smpte_frames,
)


@pytest.mark.parametrize(
    ("rate", "drop"),
    [
        (Fraction(24000, 1001), False),
        (Fraction(25), False),
        (Fraction(30000, 1001), True),
        (Fraction(30000, 1001), False),
        (Fraction(50), False),
        (Fraction(60000, 1001), True),
    ],
)
def test_smpte_labels_count_frames_as_editors_do(rate, drop):
    """Every frame of the first 11 minutes (each minute's drop-frame skip, the tenth minute's
    none) and around 10 hours: label → frames is the inverse of frames → label, and the label
    is OpenTimelineIO's."""
    import opentimelineio as otio

    nominal = round(rate)
    frames = [
        *range(0, 11 * 60 * nominal, 7),
        *range(10 * 3600 * nominal - 99, 10 * 3600 * nominal),
    ]
    for frame in frames:
        label = smpte(frame, rate, drop)
        assert smpte_frames(label, rate) == frame, label
    for frame in frames[::50]:
        theirs = otio.opentime.to_timecode(
            otio.opentime.RationalTime(frame, float(rate)), float(rate), drop
        )
        assert smpte(frame, rate, drop) == theirs


def test_a_drop_frame_minute_skips_two_labels():
    rate = Fraction(30000, 1001)
    assert smpte(1799, rate, True) == "00:00:59;29"
    assert smpte(1800, rate, True) == "00:01:00;02"
    assert smpte(17982, rate, True) == "00:10:00;00"
    assert smpte_frames("10:00:00;00", rate) == 1078920


def test_header_rates_become_the_exact_rates_editors_know():
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(Fraction(2997, 100)) == Fraction(30000, 1001)
    assert exact_rate(23.976) == Fraction(24000, 1001)
    assert exact_rate(25.0) == 25
    assert exact_rate(12.5) == Fraction(25, 2)
    clock = clock_for(29.97, "01:00:00;00")
    assert clock.rate == "30000/1001" and clock.drop_frame and clock.label == "29.97 DF"
    assert clock.timecode(clock.frame_at(1.001)) == "01:00:01;00"
    assert clock_for(25, "10:00:00;00").start_timecode is None  # no drop-frame at 25: ignored
    assert clock_for(25, "10:00:00:24").start_frame == 10 * 3600 * 25 + 24


def test_probe_reads_embedded_start_timecode_and_flags_variable_rate(tmp_path):
    from shotseek.pipeline.video import probe
    from tests.kit.footage import STANDARD_SCENES, make_footage, vfr_times

    scenes = STANDARD_SCENES[:1]
    for name, timecode in (
        ("tc.mov", "10:00:00;00"),
        ("tc.mp4", "01:00:00;00"),
        ("tc.mkv", "09:59:59;28"),
    ):
        make_footage(tmp_path / name, scenes, rate=Fraction(30000, 1001), timecode=timecode)
        clock = probe(tmp_path / name).clock
        assert (
            clock.rate == "30000/1001" and clock.start_timecode == timecode and not clock.variable
        )
    make_footage(tmp_path / "pal.mp4", scenes, rate=Fraction(25))
    assert probe(tmp_path / "pal.mp4").clock.model_dump(exclude={"label"}) == {
        "rate": "25",
        "start_timecode": None,
        "variable": False,
    }
    make_footage(tmp_path / "vfr.mp4", scenes, frame_times=vfr_times(6.0))
    assert probe(tmp_path / "vfr.mp4").clock.variable
