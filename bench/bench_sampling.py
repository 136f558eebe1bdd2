"""Decode and sampling speed on a generated 720p file.

    uv run python -m bench.bench_sampling [--seconds 60] [--fps 2]

Prints source frames decoded per second, samples per second, the real-time factor (seconds
of video per wall-clock second) and the CPU time per decoded frame, for FFmpeg's automatic
threading and for one thread; then, on one thread, the same with camera-cut detection watching
every frame (the difference is what cut detection costs). Each setting runs ``--repeats``
times and the run with the least CPU time is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from shotseek.pipeline.config import Settings
from shotseek.pipeline.cuts import CutDetector
from shotseek.pipeline.video import FrameSampler, probe
from tests.kit.footage import Scene, make_footage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--source-fps", type=float, default=25.0)
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each setting; the fastest is printed"
    )
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
        settings = Settings()
        runs = [(0, 448, False), (0, 0, False), (1, 448, False), (1, 0, False), (1, 448, True)]
        for threads, short_side, cuts in runs:
            label = ("auto threads", "1 thread")[threads] + (" + cuts" if cuts else "")
            best: tuple[float, float, int] | None = None  # (wall, cpu, samples), fastest run
            for _ in range(args.repeats):
                watcher = (
                    CutDetector(
                        threshold=settings.cut_threshold,
                        min_shot_seconds=settings.cut_min_shot_seconds,
                        frame_rate=info.average_fps or 0.0,
                    )
                    if cuts
                    else None
                )
                sampler = FrameSampler(
                    footage.path, args.fps, short_side=short_side, threads=threads, watcher=watcher
                )
                cpu0, t0 = time.process_time(), time.perf_counter()
                n = sum(1 for _ in sampler)
                run = (time.perf_counter() - t0, time.process_time() - cpu0, n)
                best = run if best is None or run[1] < best[1] else best
            assert best is not None
            wall, cpu, n = best
            frames = len(footage.frame_times)
            print(
                f"{label:<19} short_side={short_side:<4} "
                f"{frames / wall:7.1f} source frames decoded/s  "
                f"{n / wall:6.1f} samples/s  {info.duration / wall:6.1f}x real time  "
                f"{cpu / frames * 1e3:5.2f} CPU-ms/frame  "
                f"({n} samples at {args.fps:g} fps, {wall:.2f}s)"
            )


if __name__ == "__main__":
    main()
