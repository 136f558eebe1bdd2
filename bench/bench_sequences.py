"""A two-step sequence query ("this, then that") on a large store: p50/p95 of the whole query
(each step's candidates from the index, joined per video), with the join's share.

    uv run python -m bench.bench_sequences [--shots 1000000] [--queries 100] [--within 30]

The store (Qdrant Edge, shotseek's ShotStore) holds ``--shots`` 768-D structured vectors (a
mixture of clusters in a 32-D latent space, as bench_store) in 1,000-shot videos of 2-second
shots, with its search index built; each query's two steps are held-out vectors from the same
distribution. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.bench_store import DIM, PER_VIDEO


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--within", type=float, default=30.0)
    args = parser.parse_args()

    from shotseek.pipeline.config import SEQUENCE_CANDIDATES, Settings
    from shotseek.pipeline.search import join_steps, sequence_runs
    from shotseek.pipeline.store import ShotStore
    from tests.kit.shots import MODEL, StructuredSpace, synthetic_run

    rng = np.random.default_rng(7)
    space = StructuredSpace(DIM, rng)
    folder = Path(tempfile.mkdtemp(prefix="bench-sequences-"))
    try:
        with ShotStore(Settings(data_dir=folder)) as store:
            started = time.perf_counter()
            for v, i in enumerate(range(0, args.shots, PER_VIDEO)):
                chunk = space.sample(min(PER_VIDEO, args.shots - i), rng)
                record, shots = synthetic_run(f"video-{v:05d}", chunk, run_id=f"run-{v}")
                store.write_run(record, shots, chunk)
            store.build_index(MODEL)
            print(f"{args.shots} shots stored and indexed in {time.perf_counter() - started:.0f} s")
            steps = space.sample(2 * args.queries + 20, rng).reshape(-1, 2, DIM)
            for first, second in steps[:10]:  # warm the reopened segments
                sequence_runs(store, MODEL, [first, second], args.within, {})
            whole, join, runs = [], [], []
            for first, second in steps[10 : 10 + args.queries]:
                t = time.perf_counter()
                found = sequence_runs(store, MODEL, [first, second], args.within, {})
                whole.append(time.perf_counter() - t)
                candidates = [
                    store.query(MODEL, vector=v, limit=SEQUENCE_CANDIDATES) for v in (first, second)
                ]
                t = time.perf_counter()
                join_steps(candidates, args.within)
                join.append(time.perf_counter() - t)
                runs.append(len(found))
        ms = sorted(s * 1000 for s in whole)
        print(
            f"two-step sequence, {SEQUENCE_CANDIDATES} candidates a step, within "
            f"{args.within:g} s: p50 {statistics.median(ms):.1f} ms, "
            f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms over {len(ms)} queries; the join "
            f"alone p50 {statistics.median(join) * 1000:.1f} ms; runs found per query "
            f"median {statistics.median(runs):.0f}"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
