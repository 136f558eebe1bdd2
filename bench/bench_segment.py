"""Segmentation quality on generated footage, and the threshold sweep behind the defaults.

    uv run python -m bench.bench_segment [--videos 8] [--fps 2]

Uses the tiny CLIP fixture (tests/kit/tiny_clip) on reproducible random videos (cuts, dissolves,
recurring scenes, motion, zoom, flicker). A true cut counts as found when a shot boundary lies
within one sample interval of it (for a dissolve: of its middle); a shot boundary is correct when
a true cut lies within one sample of it. Prints recall, precision, shots per true segment, shots
per minute and how often a recurring scene got the class of its first appearance.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import create_encoder
from shotseek.pipeline.index import segment_params
from shotseek.pipeline.segment import SegmentParams, analyse
from shotseek.pipeline.video import sample_frames
from tests.kit.footage import random_footage, standard_footage

TINY_CLIP = f"local-dir:{Path(__file__).resolve().parents[1] / 'tests' / 'kit' / 'tiny_clip'}"


def score(videos, params: SegmentParams, fps: float) -> dict[str, float]:
    found = cuts = correct = bounds = shots = segments = 0
    minutes = 0.0
    recur_ok = recur = 0
    for footage, vectors, times in videos:
        s = analyse(vectors, times, footage.duration, params)
        starts = np.array([times[x.start] for x in s.shots[1:]])
        truth = np.array(footage.cuts)
        tol = 1.0 / fps + 1e-6
        found += sum(bool(len(starts)) and np.min(np.abs(starts - c)) <= tol for c in truth)
        correct += sum(bool(len(truth)) and np.min(np.abs(truth - b)) <= tol for b in starts)
        cuts, bounds = cuts + len(truth), bounds + len(starts)
        shots, segments = shots + len(s.shots), segments + len(footage.segments)
        minutes += footage.duration / 60
        first_class: dict[int, int] = {}
        for seg in footage.segments:
            i = int(np.searchsorted(times, (seg.start + seg.end) / 2, side="right")) - 1
            klass = int(s.frame_classes[i])
            if seg.scene in first_class:
                recur += 1
                recur_ok += first_class[seg.scene] == klass
            else:
                first_class[seg.scene] = klass
    return {
        "recall": found / max(cuts, 1),
        "precision": correct / max(bounds, 1),
        "shots_per_segment": shots / max(segments, 1),
        "shots_per_minute": shots / max(minutes, 1e-9),
        "recurring_same_class": recur_ok / max(recur, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8)
    parser.add_argument("--fps", type=float, default=2.0)
    args = parser.parse_args()
    defaults = Settings()
    encoder = create_encoder(TINY_CLIP, None, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        footages = [standard_footage(Path(tmp) / "standard.mp4")]
        footages += [
            random_footage(Path(tmp) / f"random{i}.mp4", seed=i) for i in range(args.videos - 1)
        ]
        videos = []
        for f in footages:
            frames = list(sample_frames(f.path, args.fps))
            videos.append(
                (
                    f,
                    encoder.encode_images([x.image for x in frames]),
                    np.array([x.time for x in frames]),
                )
            )
    total = sum(f.duration for f, _, _ in videos)
    print(
        f"{len(videos)} generated videos, {total / 60:.1f} min, "
        f"{sum(len(f.cuts) for f, _, _ in videos)} true cuts "
        f"({sum(len(f.dissolves) for f, _, _ in videos)} dissolves), sampled at {args.fps:g} fps"
    )
    print(
        f"{'class_thr':>9} {'shot_thr':>8} {'recall':>7} {'precision':>9} {'shots/seg':>9} "
        f"{'shots/min':>9} {'recurring':>9}"
    )
    for ct in (0.1, 0.2, 0.3, 0.4, 0.5):
        for st in (0.05, 0.1, 0.15, 0.2, 0.3):
            params = segment_params(defaults).model_copy(
                update={"class_threshold": ct, "shot_threshold": st}
            )
            r = score(videos, params, args.fps)
            mark = (
                "  <- default"
                if (ct, st) == (defaults.class_threshold, defaults.shot_threshold)
                else ""
            )
            print(
                f"{ct:9.2f} {st:8.2f} {r['recall']:7.3f} {r['precision']:9.3f} "
                f"{r['shots_per_segment']:9.2f} {r['shots_per_minute']:9.1f} "
                f"{r['recurring_same_class']:9.3f}{mark}"
            )
    print(
        f"\nminimum shot length, default thresholds:\n{'min_shot_s':>10} {'recall':>7} "
        f"{'precision':>9} {'shots/seg':>9}"
    )
    for min_shot in (0.0, 0.5, 1.0, 1.5, 2.0):
        params = segment_params(defaults).model_copy(update={"min_shot_seconds": min_shot})
        r = score(videos, params, args.fps)
        mark = "  <- default" if min_shot == defaults.min_shot_seconds else ""
        print(
            f"{min_shot:10.1f} {r['recall']:7.3f} {r['precision']:9.3f} "
            f"{r['shots_per_segment']:9.2f}{mark}"
        )


if __name__ == "__main__":
    main()
