"""Time in a video, in its three forms.

- **Seconds** from the video's first presented frame (the decoder's presentation timestamps),
  rendered ``HH:MM:SS.mmm``: what shotseek stores, searches and shows everywhere.
- **Frames** at the file's exact rational rate (``30000/1001``, never ``29.97``): frame *n* is
  the one presented at ``n / rate`` seconds.
- **SMPTE timecode** ``HH:MM:SS:FF`` (``;`` before the frames: drop-frame), counted from the
  file's embedded start timecode (a QuickTime ``tmcd`` track, MXF or container ``timecode``
  metadata) or from ``00:00:00:00``: what editors show, and what exports carry.

A variable-frame-rate file has no frame grid: its frames are numbered by time at its average
rate (frame = round(seconds × rate)), as editors that conform such files count them.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from pydantic import BaseModel, ConfigDict, Field, computed_field

_TIMECODE = re.compile(r"^(?:(?:(\d+):)?(\d{1,2}):)?(\d{1,2}(?:\.\d+)?)$")
#: ``HH:MM:SS:FF`` (``;`` before the frames: drop-frame), the form logs and EDLs use.
_FRAME_TIMECODE = re.compile(r"^(\d{1,3}):(\d{2}):(\d{2})([:;])(\d{2,3})$")

#: Rates editors know, as exact fractions: a header's rate within 0.05% of one is that one.
STANDARD_RATES: tuple[Fraction, ...] = tuple(
    Fraction(n, d)
    for n, d in (
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48000, 1001),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
        (100, 1),
        (120000, 1001),
        (120, 1),
    )
)


class FrameRateNeeded(ValueError):
    """``HH:MM:SS:FF`` read without the video's frame rate (the caller looks it up)."""


def format_timecode(seconds: float) -> str:
    """Render seconds as ``HH:MM:SS.mmm`` (rounded to the millisecond)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(
            f"a timecode needs a finite, non-negative number of seconds, not {seconds}"
        )
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def parse_timecode(value: str | float | int, rate: Fraction | float | None = None) -> float:
    """Seconds from ``HH:MM:SS.mmm``, ``MM:SS``, ``SS.s``, a number, or, with the video's
    frame ``rate``, SMPTE ``HH:MM:SS:FF`` (``HH:MM:SS;FF``: drop-frame, at 29.97 or 59.94).

    A field after the first runs 0-59 (``00:00:99`` and ``01:60`` are refused, not read as
    1:39 and 2:00). A frame timecode counts frames at the nominal rate (30 for 29.97): frame
    number / exact rate is the time, as editing software counts it."""
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = value.strip()
        frames = _FRAME_TIMECODE.match(text)
        match = _TIMECODE.match(text)
        if re.fullmatch(r"\d+(?:\.\d+)?", text):  # seconds alone, however many (125, 3600.5)
            seconds = float(text)
        elif frames:
            if rate is None or rate <= 0:
                raise FrameRateNeeded(
                    f"{value!r} counts frames (HH:MM:SS:FF): it is read at the video's frame "
                    "rate, which is not known here"
                )
            exact = exact_rate(rate)
            seconds = float(smpte_frames(text, exact) / exact)
        elif not match:
            raise ValueError(
                f"{value!r} is not a time: use seconds (90.5), HH:MM:SS.mmm (00:01:30.500) or "
                "HH:MM:SS:FF (00:01:30:12)"
            )
        else:
            h, m, s = match.groups()
            if m is not None and float(s) >= 60:
                raise ValueError(f"{value!r} has {s} seconds; seconds run 0-59")
            if h is not None and int(m) >= 60:
                raise ValueError(f"{value!r} has {m} minutes; minutes run 0-59")
            seconds = int(h or 0) * 3600 + int(m or 0) * 60 + float(s)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a non-negative time")
    return seconds


def exact_rate(rate: Fraction | float | str) -> Fraction:
    """A frame rate as an exact fraction: a standard rate (``30000/1001``) when ``rate`` is
    within 0.05% of one, else the nearest fraction with a denominator up to 1001."""
    value = Fraction(rate) if not isinstance(rate, float) else Fraction(rate)
    if value <= 0:
        raise ValueError(f"a frame rate must be positive, not {rate}")
    for standard in STANDARD_RATES:
        if abs(value - standard) <= standard * Fraction(5, 10000):
            return standard
    return value.limit_denominator(1001)


def is_drop_frame_rate(rate: Fraction) -> bool:
    """Drop-frame timecode exists at 29.97 and 59.94 (and their multiples) only."""
    return rate.denominator == 1001 and round(rate) % 30 == 0


def smpte_frames(value: str, rate: Fraction) -> int:
    """Frames counted by the SMPTE timecode ``value`` at ``rate`` (``;``: drop-frame)."""
    frames = _FRAME_TIMECODE.match(value.strip())
    if not frames:
        raise ValueError(f"{value!r} is not a SMPTE timecode (HH:MM:SS:FF)")
    h, m, s, mark, f = frames.groups()
    hours, minutes, secs, frame = int(h), int(m), int(s), int(f)
    if minutes >= 60 or secs >= 60:
        raise ValueError(f"{value!r}: minutes and seconds run 0-59")
    nominal = round(rate)
    if frame >= nominal:
        raise ValueError(
            f"{value!r} has frame {frame}; at {float(rate):g} fps frames run 0-{nominal - 1}"
        )
    count = (hours * 3600 + minutes * 60 + secs) * nominal + frame
    if mark == ";":  # drop-frame: frame labels 0 and 1 (0-3 at 59.94) skipped each minute
        if not is_drop_frame_rate(rate):
            raise ValueError(
                f"{value!r} is a drop-frame timecode (';'), which exists at 29.97 and 59.94 fps "
                f"only, not {float(rate):g}"
            )
        drop = nominal // 15
        total_minutes = hours * 60 + minutes
        if secs == 0 and frame < drop and minutes % 10:
            raise ValueError(
                f"{value!r} does not exist in drop-frame: labels 0-{drop - 1} are skipped"
            )
        count -= drop * (total_minutes - total_minutes // 10)
    return count


def smpte(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """The SMPTE label of frame number ``frame`` at ``rate``: the inverse of
    :func:`smpte_frames`. Labels wrap at 24 hours, as timecode does."""
    if frame < 0:
        raise ValueError(f"a frame number cannot be negative ({frame})")
    nominal = round(rate)
    if drop_frame:
        drop = nominal // 15
        per_ten = 10 * 60 * nominal - 9 * drop  # frames in ten minutes
        per_minute = 60 * nominal - drop
        tens, rest = divmod(frame, per_ten)
        if rest >= drop:
            frame += 9 * drop * tens + drop * ((rest - drop) // per_minute)
        else:
            frame += 9 * drop * tens
    frame %= 24 * 3600 * nominal
    secs, ff = divmod(frame, nominal)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    width = len(str(nominal - 1))
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop_frame else ':'}{ff:0{max(2, width)}d}"


class SourceClock(BaseModel):
    """How a file numbers its frames: its exact rate and the timecode of its first frame."""

    model_config = ConfigDict(frozen=True)

    rate: str = Field(description="Exact frame rate, a fraction such as 30000/1001 or 25.")
    start_timecode: str | None = Field(
        None, description="Embedded timecode of the first frame (';': drop-frame), if any."
    )
    variable: bool = Field(
        False, description="Variable frame rate: frames are numbered by time at this rate."
    )

    @property
    def fps(self) -> Fraction:
        return Fraction(self.rate)

    @property
    def drop_frame(self) -> bool:
        return self.start_timecode is not None and ";" in self.start_timecode

    @property
    def start_frame(self) -> int:
        """Frames counted by the start timecode (0 without one)."""
        return 0 if self.start_timecode is None else smpte_frames(self.start_timecode, self.fps)

    def frame_at(self, seconds: float) -> int:
        """The number (from the file's first frame, 0) of the frame presented at ``seconds``."""
        return max(0, round(Fraction(seconds).limit_denominator(1_000_000) * self.fps))

    def seconds_of(self, frame: int) -> float:
        return float(frame / self.fps)

    def timecode(self, frame: int) -> str:
        """The source timecode editors show for frame ``frame`` of the file."""
        return smpte(self.start_frame + frame, self.fps, self.drop_frame)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def label(self) -> str:
        """The rate as editors name it: 29.97 DF, 25, 23.976."""
        value = float(self.fps)
        text = f"{value:.3f}".rstrip("0").rstrip(".")
        return f"{text} DF" if self.drop_frame else text


def clock_for(
    rate: Fraction | float | str, start_timecode: str | None, *, variable: bool = False
) -> SourceClock:
    """A file's clock from its header's rate and embedded start timecode. A start timecode
    that does not fit the rate (frames past the rate's count, drop-frame at 25) is ignored,
    as a decoder would, with the file counted from 00:00:00:00."""
    exact = exact_rate(rate)
    start = None
    if start_timecode:
        text = start_timecode.strip()
        try:
            smpte_frames(text, exact)
            start = text
        except ValueError:
            start = None
    rendered = f"{exact.numerator}" if exact.denominator == 1 else str(exact)
    return SourceClock(rate=rendered, start_timecode=start, variable=variable)
