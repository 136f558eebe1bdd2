"""Shots as video files a person can play and share, written through PyAV (no ffmpeg binary).

- **exact**: decoded and re-encoded (H.264 + AAC in MP4) from the shot's first frame to its last,
  with its sound cut to the same span; optionally the source timecode burnt into each frame.
- **fast**: the file's own packets copied, without re-encoding, from the keyframe at or before
  the first frame. In MP4 and QuickTime files an edit list makes playback start on the exact
  first frame (the frames from the keyframe before it are kept, not shown); in other containers
  the clip starts at that keyframe, and says so. It ends at the first keyframe at or after the
  shot's end (a decoder needs the frames up to it), and says where.
- **reel**: the exact clips one after another in one file (the selects reel).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from shotseek.pipeline.export.selects import Select
from shotseek.pipeline.models import ClipFile
from shotseek.pipeline.video import display_rotation

#: Containers whose edit lists start playback on a frame after the first keyframe.
EDIT_LIST_SUFFIXES = (".mp4", ".mov", ".m4v")
AUDIO_RATE = 48000


def clip_name(select: Select, suffix: str) -> str:
    """``<number>-<file stem>-<source timecode>-<shot>``: sorts in order, says what it is."""
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(select.file_name).stem)
    tc = select.source_in.replace(":", "").replace(";", "")
    return f"{select.number:03d}-{stem[:40]}-{tc}-{select.shot.shot_id[:8]}{suffix}"


# -- exact ------------------------------------------------------------------------------------


class _Encoder:
    """An MP4 being written: H.264 frames at one rate and size, AAC sound, clip after clip."""

    def __init__(self, path: Path, width: int, height: int, rate: Fraction, audio: bool) -> None:
        self.container = av.open(str(path), mode="w")
        self.rate = rate
        self.video = self.container.add_stream("libx264", rate=rate)
        self.video.width, self.video.height = width - width % 2, height - height % 2
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.time_base = 1 / rate
        self.video.options = {"preset": "veryfast", "crf": "16"}
        self.audio = None
        if audio:
            self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
            self.audio.layout = "stereo"
            self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=AUDIO_RATE)
        self.frames = 0
        self.samples = 0

    def picture(self, image: np.ndarray) -> None:
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = self.frames, 1 / self.rate
        if (frame.width, frame.height) != (self.video.width, self.video.height):
            frame = frame.reformat(width=self.video.width, height=self.video.height)
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def sound(self, samples: np.ndarray) -> None:
        """Stereo float samples at 48 kHz, shape (2, n)."""
        if self.audio is None or samples.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples, np.float32), format="fltp", layout="stereo"
        )
        frame.sample_rate = AUDIO_RATE
        frame.pts, frame.time_base = self.samples, Fraction(1, AUDIO_RATE)
        for packet in self.audio.encode(frame):
            self.container.mux(packet)
        self.samples += samples.shape[1]

    def pad_sound(self) -> None:
        """Silence up to the pictures' end (a source without sound, or with less of it), so
        the next clip's sound starts with its pictures."""
        if self.audio is None:
            return
        due = round(self.frames / self.rate * AUDIO_RATE)
        while self.samples < due:
            self.sound(np.zeros((2, min(4096, due - self.samples)), np.float32))

    def close(self) -> None:
        try:
            for packet in self.video.encode():
                self.container.mux(packet)
            if self.audio is not None:
                for packet in self.audio.encode():
                    self.container.mux(packet)
        finally:
            self.container.close()


def _font(height: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(10, height // 14))


def _burn(image: np.ndarray, text: str) -> np.ndarray:
    """The source timecode in white on a dark box in the top left corner."""
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    font = _font(picture.height)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    margin = max(2, picture.height // 60)
    draw.rectangle((0, 0, right - left + 2 * margin, bottom - top + 2 * margin), fill=(0, 0, 0))
    draw.text((margin - left, margin - top), text, fill=(255, 255, 255), font=font)
    return np.asarray(picture)


def _seek_before(container: av.container.InputContainer, stream, base: int, seconds: float) -> None:
    """Seek so that reading starts at a keyframe at or before ``seconds`` (from the video's
    first frame): a backward seek can land after it (Matroska's cues), so earlier targets are
    tried until the first keyframe read is not late."""
    for back in (0.0, 2.0, 10.0, 60.0, math.inf):
        target = max(0.0, seconds - back)
        where = base + int(target / stream.time_base)
        container.seek(where, stream=stream, backward=True)
        key = next(
            (p for p in container.demux(stream) if p.pts is not None and p.is_keyframe), None
        )
        if key is None or target == 0 or float((key.pts - base) * stream.time_base) <= seconds:
            container.seek(where, stream=stream, backward=True)
            return


def _pictures(select: Select) -> Iterator[tuple[int, np.ndarray]]:
    """(frame number, RGB picture as displayed: rotation applied) of each frame from the
    select's in point to its out point."""
    clock = select.clock
    start = clock.seconds_of(select.in_frame)
    with av.open(select.path) as source:
        stream = source.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.start_time or 0
        _seek_before(source, stream, base, start)
        for frame in source.decode(stream):
            if frame.pts is None:
                continue
            number = clock.frame_at(float((frame.pts - base) * stream.time_base))
            if number < select.in_frame:
                continue
            if number >= select.out_frame:
                break
            picture = frame.to_ndarray(format="rgb24")
            turn = display_rotation(frame)  # a phone's portrait file is stored on its side
            yield number, np.ascontiguousarray(np.rot90(picture, k=turn // 90)) if turn else picture


def _sound(select: Select, resampler: av.AudioResampler) -> Iterator[np.ndarray]:
    """The source's sound from the in point to the out point, stereo 48 kHz, cut to the
    sample (times measured, as shot times are, from the video stream's first frame)."""
    clock = select.clock
    start, end = clock.seconds_of(select.in_frame), clock.seconds_of(select.out_frame)
    with av.open(select.path) as source:
        if not source.streams.audio:
            return
        video, audio = source.streams.video[0], source.streams.audio[0]
        origin = float((video.start_time or 0) * video.time_base)
        seek_to = max(0.0, origin + start - 1.0)
        source.seek(int(seek_to / audio.time_base), stream=audio)
        for decoded in source.decode(audio):
            if decoded.pts is None:
                continue
            for frame in resampler.resample(decoded):
                at = float(frame.pts * frame.time_base) - origin if frame.pts is not None else 0
                samples = frame.to_ndarray()
                first = max(0, round((start - at) * AUDIO_RATE))
                last = min(samples.shape[1], round((end - at) * AUDIO_RATE))
                if at >= end:
                    return
                if last > first:
                    yield samples[:, first:last]


def _has_audio(path: str) -> bool:
    with av.open(path) as source:
        return bool(source.streams.audio)


def _write_exact(encoder: _Encoder, select: Select, burn: bool) -> int:
    shown = 0
    for number, image in _pictures(select):
        encoder.picture(_burn(image, select.clock.timecode(number)) if burn else image)
        shown += 1
    if encoder.audio is not None:
        samples_before = encoder.samples
        due = samples_before + round(shown / float(encoder.rate) * AUDIO_RATE)
        for chunk in _sound(select, encoder.resampler):
            keep = min(chunk.shape[1], due - encoder.samples)
            if keep <= 0:
                break
            encoder.sound(chunk[:, :keep])
        encoder.pad_sound()
    return shown


def cut_exact(select: Select, target: Path, *, burn: bool = False) -> ClipFile:
    """The shot (with its handles) re-encoded frame-accurately, with its sound."""
    audio = _has_audio(select.path)
    encoder = _Encoder(target, select.width, select.height, select.clock.fps, audio)
    try:
        shown = _write_exact(encoder, select, burn)
    finally:
        encoder.close()
    return ClipFile(
        path=str(target),
        mode="exact",
        shot_id=select.shot.shot_id,
        source=select.path,
        start=select.clock.seconds_of(select.in_frame),
        end=select.clock.seconds_of(select.in_frame + shown),
        source_in=select.source_in,
        frames=shown,
        audio=audio,
    )


def write_reel(selects: Sequence[Select], target: Path, *, burn: bool = False) -> ClipFile:
    """The selects one after another in one file, each cut exactly, at the first one's size
    and rate (a clip of another size is scaled; of another rate, its frames are shown one
    after another at the reel's rate)."""
    first = selects[0]
    audio = any(_has_audio(s.path) for s in selects)
    encoder = _Encoder(target, first.width, first.height, first.clock.fps, audio)
    try:
        shown = sum(_write_exact(encoder, s, burn) for s in selects)
    finally:
        encoder.close()
    return ClipFile(
        path=str(target),
        mode="exact",
        start=0.0,
        end=shown / float(first.clock.fps),
        frames=shown,
        audio=audio,
        note=f"{len(selects)} shots one after another",
    )


# -- fast -------------------------------------------------------------------------------------


def cut_fast(select: Select, target: Path) -> ClipFile:
    """The source's packets copied from the keyframe at or before the in point to the first
    keyframe at or after the out point; an MP4/QuickTime edit list starts playback on the in
    point itself."""
    clock = select.clock
    start, end = clock.seconds_of(select.in_frame), clock.seconds_of(select.out_frame)
    edit_list = target.suffix.lower() in EDIT_LIST_SUFFIXES
    with av.open(select.path) as source, av.open(str(target), mode="w") as out:
        video = source.streams.video[0]
        base = video.start_time or 0
        origin = float(base * video.time_base)
        streams = [video, *source.streams.audio[:1]]
        copies = {s.index: out.add_stream_from_template(s) for s in streams}
        _seek_before(source, video, base, start)
        keyframe: float | None = None
        stop = math.inf
        for packet in source.demux(streams):
            if packet.pts is None:  # (a Matroska packet read after a seek may lack a dts)
                continue
            at = float(packet.pts * packet.time_base) - origin
            if packet.stream.type == "video":
                if keyframe is None:
                    if not packet.is_keyframe:
                        continue
                    keyframe = at
                if packet.is_keyframe and at >= end - 1e-6 and at > keyframe:
                    stop = at
                    break
            elif keyframe is None or at < keyframe - 1e-6 or at >= stop:
                continue
            shift = start if edit_list else keyframe
            offset = round((shift + origin) / packet.time_base)
            packet.pts -= offset
            if packet.dts is not None:
                packet.dts -= offset
            packet.stream = copies[packet.stream.index]
            out.mux(packet)
    if keyframe is None:
        raise ValueError(f"{select.path} has no keyframe before {start:.3f} s")
    real_end = min(stop, select.clock.seconds_of(select.total_frames))
    real_start = start if edit_list else keyframe
    notes = []
    if not edit_list and keyframe < start - 1e-6:
        notes.append(f"starts at the keyframe {start - keyframe:.3f} s before the shot")
    elif keyframe < start - 1e-6:
        notes.append(f"holds {start - keyframe:.3f} s before the shot, not shown (edit list)")
    if real_end > end + 1e-6:
        notes.append(f"ends at the next keyframe, {real_end - end:.3f} s after the shot")
    return ClipFile(
        path=str(target),
        mode="fast",
        shot_id=select.shot.shot_id,
        source=select.path,
        start=real_start,
        end=real_end,
        source_in=clock.timecode(clock.frame_at(real_start)),
        frames=clock.frame_at(real_end) - clock.frame_at(real_start),
        audio=len(streams) > 1,
        note="; ".join(notes) or None,
    )
