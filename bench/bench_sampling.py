"""Decode and sampling speed on a generated 720p file.

    uv run python -m bench.bench_sampling [--seconds 60] [--fps 2]

Prints source frames decoded per second, samples per second and the real-time factor (seconds
of video per wall-clock second), for FFmpeg's automatic threading and for one thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from shotseek.pipeline.video import probe, sample_frames
from tests.kit.footage import Scene, make_footage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--source-fps", type=float, default=25.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        quarter = args.seconds / 4
        scenes = [
            Scene(c, s, quarter, velocity=(0.01, 0.005), flicker=0.05)
            for c, s in [
                ("red", "circle"),
                ("blue", "square"),
                ("white", "star"),
                ("orange", "triangle"),
            ]
        ]
        t0 = time.perf_counter()
        footage = make_footage(
            Path(tmp) / "bench720.mp4", scenes, fps=args.source_fps, size=(1280, 720)
        )
        info = probe(footage.path)
        print(
            f"generated {info.width}x{info.height} {info.codec} {info.duration:.1f}s "
            f"@ {info.average_fps:.2f} fps, {len(footage.frame_times)} frames "
            f"in {time.perf_counter() - t0:.1f}s"
        )
        for threads, label in ((0, "auto threads"), (1, "1 thread")):
            for short_side in (448, 0):
                t0 = time.perf_counter()
                n = sum(
                    1
                    for _ in sample_frames(
                        footage.path, args.fps, short_side=short_side, threads=threads
                    )
                )
                wall = time.perf_counter() - t0
                print(
                    f"{label:<12} short_side={short_side:<4} "
                    f"{len(footage.frame_times) / wall:7.1f} source frames decoded/s  "
                    f"{n / wall:6.1f} samples/s  {info.duration / wall:6.1f}x real time  "
                    f"({n} samples at {args.fps:g} fps, {wall:.2f}s)"
                )


if __name__ == "__main__":
    main()
