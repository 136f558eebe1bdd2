"""Wall-clock time of cold command-line commands, as a user types them.

    uv run python -m bench.bench_cli [--model ViT-L-14] [--pretrained none] [--videos 3] [-n 5]

Builds a store of ``--videos`` generated videos (``shotseek index``, which also keeps the
model's text graph), then runs each command ``-n`` times in a fresh process and prints the
median and the range: ``--help``, ``videos``, ``structure``, and ``search`` with the text graph
(onnxruntime, no torch) and without it (SHOTSEEK_TEXT_GRAPH=0: torch and the whole model). Also
prints how long writing the text graph took. Random weights (``none``) load slower than real
ones (they are drawn, not read), so the search without a graph is pessimistic by the draw.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.kit.footage import standard_footage


def _timed(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "shotseek", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"shotseek {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-L-14")
    parser.add_argument("--pretrained", default="none")
    parser.add_argument("--videos", type=int, default=3)
    parser.add_argument("-n", type=int, default=5, help="Runs of each command.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(args.videos):
            standard_footage(root / "media" / f"clip{i}.mp4")
        env = {
            **os.environ,
            "SHOTSEEK_DATA_DIR": str(root / "data"),
            "SHOTSEEK_MODEL": args.model,
            "SHOTSEEK_PRETRAINED": args.pretrained,
            "SHOTSEEK_DEVICE": "cpu",
        }
        start = time.perf_counter()
        _timed(["index", str(root / "media"), "--json"], {**env, "SHOTSEEK_TEXT_GRAPH": "0"})
        indexed = time.perf_counter() - start
        start = time.perf_counter()
        _timed(["search", "a red circle", "--json"], env)  # loads the model, writes the graph
        first = time.perf_counter() - start
        graphs = list((root / "data" / "text-graphs").glob("*/text.onnx.data"))
        size = sum(p.stat().st_size for p in graphs) / 1e6
        print(f"{args.model} ({args.pretrained}), {args.videos} videos; index {indexed:.1f} s")
        print(f"first search, which writes the text graph ({size:.0f} MB): {first:.1f} s")
        commands = {
            "shotseek --help": (["--help"], env),
            "shotseek videos": (["videos"], env),
            "shotseek structure clip0.mp4": (["structure", "clip0.mp4"], env),
            'shotseek search "…" (text graph)': (["search", "a green star"], env),
            'shotseek search "…" (no graph: torch)': (
                ["search", "a green star"],
                {**env, "SHOTSEEK_TEXT_GRAPH": "0"},
            ),
        }
        print(f"{'command':42} {'median':>8} {'min':>7} {'max':>7}   (n={args.n}, cold process)")
        for label, (argv, run_env) in commands.items():
            times = [_timed(argv, run_env) for _ in range(args.n)]
            print(
                f"{label:42} {statistics.median(times):7.2f}s {min(times):6.2f}s {max(times):6.2f}s"
            )


if __name__ == "__main__":
    main()
