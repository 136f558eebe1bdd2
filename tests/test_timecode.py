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
