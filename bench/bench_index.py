"""End-to-end indexing speed: video seconds indexed per wall-clock second.

    uv run python -m bench.bench_index [--model ViT-B-32] [--pretrained none] [--seconds 120]

Generates a 640x360, 25 fps file, then runs the real index_video (sample → encode → analyse →
thumbnails → embedded Qdrant store) into a temporary data directory, and prints the time spent
in each stage. Random weights (``none``) need no download; the speed is what a real checkpoint
of the same architecture gives.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import get_encoder
from shotseek.pipeline.index import index_video
from shotseek.pipeline.store import ShotStore
from tests.kit.footage import random_footage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--pretrained", default="none")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        occurrences = max(2, int(args.seconds / 5))
        footage = random_footage(
            Path(tmp) / "bench.mp4", seed=1, occurrences=occurrences, fps=25.0, size=(640, 360)
        )
        settings = Settings(
            data_dir=Path(tmp) / "data",
            model=args.model,
            pretrained=args.pretrained,
            fps=args.fps,
            device=args.device,
        )
        encoder = get_encoder(settings)
        stamps: list[tuple[str, float]] = []
        with ShotStore(settings) as store:
            t0 = time.perf_counter()
            outcome = index_video(
                footage.path,
                settings,
                store=store,
                encoder=encoder,
                progress=lambda e: stamps.append((e.stage, time.perf_counter())),
            )
            wall = time.perf_counter() - t0
        spent: dict[str, float] = {}
        for (stage, at), (_, nxt) in zip(stamps, stamps[1:]):
            spent[stage] = spent.get(stage, 0.0) + nxt - at
        print(
            f"{encoder.model_id} on {encoder.device} ({encoder.precision}), {args.fps:g} fps: "
            f"{outcome.duration:.1f} s of 640x360 video in {wall:.1f} s = "
            f"{outcome.duration / wall:.2f} video seconds per wall second, "
            f"{outcome.n_shots} shots"
        )
        print("  " + ", ".join(f"{k} {v:.2f}s" for k, v in spent.items()))


if __name__ == "__main__":
    main()
