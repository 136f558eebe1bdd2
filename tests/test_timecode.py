from fractions import Fraction

import pytest

from shotseek.pipeline.models import Span, format_timecode, parse_timecode


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
