"""The shot store at archive scale: Qdrant Edge (the embedded default) against the earlier
embedded store (qdrant-client's local mode), through shotseek's own :class:`ShotStore`.

    uv run python -m bench.bench_store [--sizes 20000 100000 1000000] [--kinds structured noise]
        [--old-up-to 100000] [--ef 64 128 256] [--quantize]

For each size and kind of vector, in a fresh child process (so peak memory is its own):
insert N 768-D shots as index runs of 1,000-shot videos (``write_run``: staged, made live,
switched, as indexing does), build the search index (HNSW), reopen the store, warm it with 20
searches, then time 200 searches (30 for the old local mode; limit 10) with no filter, with a
one-video filter, and with a time-range filter (10% of each video), p50/p95; recall@10 of the
HNSW answer against exact search (100 queries) at each ``--ef``. Vectors are ``structured`` (a
mixture of clusters in a 32-D latent space projected to 768-D, plus noise: like real shot
embeddings) or ``noise`` (Gaussian: every point's ten nearest neighbours are near-ties and no
index can rank them). The old local mode runs up to ``--old-up-to`` shots, in the same run, and
the table gives Edge's speed-up. Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 768
PER_VIDEO = 1000
QUERIES = 200
RECALL_QUERIES = 100


def _vectors(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` shot vectors and QUERIES held-out queries from the same distribution."""
    from tests.kit.shots import StructuredSpace

    rng = np.random.default_rng(seed)
    if kind == "structured":
        space = StructuredSpace(DIM, rng)
        sample = space.sample
    else:

        def sample(m: int, r: np.random.Generator) -> np.ndarray:
            v = r.standard_normal(size=(m, DIM), dtype=np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    chunks = [sample(min(100_000, n - i), rng) for i in range(0, n, 100_000)]
    return np.concatenate(chunks), sample(QUERIES, rng)


def _percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[int(0.95 * (len(ms) - 1))]


def run_one(engine_kind: str, n: int, kind: str, efs: list[int], quantize: bool) -> dict:
    """One configuration, in this process; returns its figures."""
    from shotseek.pipeline.config import Settings
    from shotseek.pipeline.store import ShotStore
    from shotseek.pipeline.store.edge import EdgeEngine
    from shotseek.pipeline.store.qdrant import QdrantEngine
    from tests.kit.shots import MODEL, synthetic_run

    data, queries = _vectors(kind, n, seed=n)
    folder = Path(tempfile.mkdtemp(prefix=f"bench-store-{engine_kind}-"))
    settings = Settings(data_dir=folder, quantize=quantize)

    def open_store(ef: int | None = None) -> ShotStore:
        if engine_kind == "edge":
            engine = EdgeEngine(folder / "edge", hnsw_ef=ef, quantize=quantize)
        else:
            engine = QdrantEngine(path=str(folder / "local"), hnsw_ef=ef)
        return ShotStore(settings, engine=engine)

    figures: dict = {"engine": engine_kind, "n": n, "kind": kind, "quantize": quantize}
    store = open_store()
    started = time.perf_counter()
    for v, i in enumerate(range(0, n, PER_VIDEO)):
        chunk = data[i : i + PER_VIDEO]
        record, shots = synthetic_run(f"video-{v:05d}", chunk, run_id=f"run-{v}")
        store.write_run(record, shots, chunk)
    figures["insert_per_s"] = n / (time.perf_counter() - started)
    started = time.perf_counter()
    store.build_index(MODEL)
    figures["build_s"] = time.perf_counter() - started
    store.close()

    started = time.perf_counter()
    store = open_store(efs[0])
    store.query(MODEL, vector=queries[0], limit=10)
    figures["reopen_s"] = time.perf_counter() - started
    state = store.index_state(MODEL)
    figures["indexed"] = f"{state.indexed}/{state.shots}"

    rng = np.random.default_rng(1)
    n_videos = (n + PER_VIDEO - 1) // PER_VIDEO
    scopes = {
        "none": lambda: {},
        "video": lambda: {"video_ids": [f"video-{int(rng.integers(n_videos)):05d}"]},
        "time": lambda: {"after": 400.0, "before": 600.0},  # 10% of each 2,000 s video
    }
    # the old local mode scans in Python (seconds a query at 100k): fewer queries there
    timed = queries if engine_kind == "edge" else queries[:30]
    for q in queries[:20]:  # the reopened store's first queries load it (counted in reopen_s)
        store.query(MODEL, vector=q, limit=10)
    for name, scope in scopes.items():
        times = []
        for q in timed:
            args = scope()
            t = time.perf_counter()
            store.query(MODEL, vector=q, limit=10, **args)
            times.append(time.perf_counter() - t)
        figures[f"p50_{name}_ms"], figures[f"p95_{name}_ms"] = _percentiles(times)
    store.close()

    if engine_kind == "edge":
        exact_store = open_store()
        truth = [
            {s.shot_id for s, _ in exact_store.query(MODEL, vector=q, limit=10, exact=True)}
            for q in queries[:RECALL_QUERIES]
        ]
        exact_store.close()
        for ef in efs:
            with open_store(ef) as ef_store:
                times, hits = [], 0
                for q, want in zip(queries[:RECALL_QUERIES], truth):
                    t = time.perf_counter()
                    found = ef_store.query(MODEL, vector=q, limit=10)
                    times.append(time.perf_counter() - t)
                    hits += len({s.shot_id for s, _ in found} & want)
                figures[f"recall@10_ef{ef}"] = hits / (10 * len(truth))
                figures[f"p50_ef{ef}_ms"] = _percentiles(times)[0]
    figures["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    used = sum(f.stat().st_blocks * 512 for f in folder.rglob("*") if f.is_file())
    figures["disk_gb"] = used / 2**30  # blocks in use: Edge's WAL files are sparse
    shutil.rmtree(folder, ignore_errors=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    parser.add_argument("--kinds", nargs="+", default=["structured", "noise"])
    parser.add_argument("--old-up-to", type=int, default=100_000)
    parser.add_argument("--ef", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--quantize", action="store_true", help="int8 vectors in memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        engine_kind, n, kind = args.child.split(":")
        print(json.dumps(run_one(engine_kind, int(n), kind, args.ef, args.quantize)), flush=True)
        return

    rows = []
    for kind in args.kinds:
        for n in args.sizes:
            for engine_kind in ["edge"] + (["local"] if n <= args.old_up_to else []):
                command = [
                    sys.executable,
                    "-m",
                    "bench.bench_store",
                    "--child",
                    f"{engine_kind}:{n}:{kind}",
                    "--ef",
                    *map(str, args.ef),
                ]
                if args.quantize:
                    command.append("--quantize")
                proc = subprocess.run(command, capture_output=True, text=True)
                if proc.returncode != 0:
                    print(f"{engine_kind} {n} {kind} failed:\n{proc.stderr[-2000:]}", flush=True)
                    continue
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                rows.append(row)
                print(json.dumps(row), flush=True)

    print(
        "\n| engine | shots | vectors | insert/s | HNSW build | reopen | p50/p95 ms: no filter "
        "| one video | time range | recall@10 (ef) | peak RSS | disk |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        recalls = ", ".join(
            f"{r[f'recall@10_ef{ef}']:.3f} @{ef} ({r[f'p50_ef{ef}_ms']:.2f} ms)"
            for ef in args.ef
            if f"recall@10_ef{ef}" in r
        )
        print(
            f"| {r['engine']} | {r['n']:,} | {r['kind']} | {r['insert_per_s']:,.0f} | "
            f"{r['build_s']:.1f} s | {r['reopen_s']:.2f} s | "
            f"{r['p50_none_ms']:.2f}/{r['p95_none_ms']:.2f} | {r['p50_video_ms']:.2f}/"
            f"{r['p95_video_ms']:.2f} | {r['p50_time_ms']:.2f}/{r['p95_time_ms']:.2f} | "
            f"{recalls or '—'} | {r['peak_rss_gb']:.2f} GB | {r['disk_gb']:.2f} GB |"
        )
    by = {(r["engine"], r["n"], r["kind"]): r for r in rows}
    for (engine_kind, n, kind), r in by.items():
        edge = by.get(("edge", n, kind))
        if engine_kind == "local" and edge:
            print(
                f"{n:,} {kind}: Edge is {r['p50_none_ms'] / edge['p50_none_ms']:.0f}x faster to "
                f"search (p50), {edge['insert_per_s'] / r['insert_per_s']:.1f}x to insert, "
                f"{r['reopen_s'] / edge['reopen_s']:.0f}x to reopen"
            )


if __name__ == "__main__":
    main()
