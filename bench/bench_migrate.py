"""Moving an earlier version's embedded store into Qdrant Edge with ``shotseek migrate``.

    uv run python -m bench.bench_migrate [--shots 20000] [--per-video 1000]

Writes an old store (qdrant-client's local mode, as shotseek wrote it before Edge) of
``--shots`` 768-D shots, then times the real command in a child process (``python -m shotseek
migrate --json``): seconds, shots per second, the child's peak memory; then checks that every
video, shot and vector arrived. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from shotseek.pipeline.config import Settings
from shotseek.pipeline.store import ShotStore
from tests.kit.legacy import write_legacy_store
from tests.kit.shots import MODEL, StructuredSpace, synthetic_run

DIM = 768


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=20_000)
    parser.add_argument("--per-video", type=int, default=1000)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    rng = np.random.default_rng(0)
    space = StructuredSpace(DIM, rng)
    runs = []
    for v, i in enumerate(range(0, args.shots, args.per_video)):
        vectors = space.sample(min(args.per_video, args.shots - i), rng)
        record, shots = synthetic_run(f"video-{v:04d}", vectors, run_id=f"run-{v}")
        runs.append((record, shots, vectors))
    started = time.perf_counter()
    write_legacy_store(data, runs)
    print(
        f"old store: {args.shots:,} shots in {len(runs)} videos, written in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )

    env = {**os.environ, "SHOTSEEK_DATA_DIR": str(data)}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "shotseek", "migrate", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"shotseek migrate failed:\n{proc.stderr}")
    report = json.loads(proc.stdout)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20

    with ShotStore(Settings(data_dir=data)) as store:
        assert store.count_shots(MODEL) == args.shots
        record, shots, vectors = runs[len(runs) // 2]
        stored = store.shot_vectors(MODEL, [s.shot_id for s in shots])
        assert all(np.allclose(stored[s.shot_id], v, atol=1e-6) for s, v in zip(shots, vectors))
        state = store.index_state(MODEL)
    print(
        f"shotseek migrate: {report['videos_copied']} videos, {report['shots_copied']:,} shots "
        f"in {seconds:.1f} s wall ({report['seconds']:.1f} s in the command: "
        f"{report['shots_copied'] / report['seconds']:,.0f} shots/s, search index included), "
        f"peak RSS {peak:.2f} GB; search index {state.indexed:,}/{state.shots:,}; "
        f"every shot and vector checked"
    )


if __name__ == "__main__":
    main()
