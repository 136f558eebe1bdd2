"""Search quality (R@1, R@5) on generated footage, and search latency in the embedded store.

    uv run python -m bench.bench_search [--videos 6] [--latency-sizes 1000 20000]

Quality: the tiny CLIP fixture indexes ``--videos`` generated videos (the standard one plus
random ones); queries are
  * text: each caption present in the archive ("a red square");
  * image: a cropped, brightened still of each distinct scene, drawn on another background;
  * text+image: both of the above for the same target, combined (weight 0.5);
  * composition: text naming the target's colour with another shape, plus a still of the
    target's shape in another colour: the target matches each half. Weighted combination vs
    reciprocal-rank fusion (RRF, k=60) of the two separate searches.
A query succeeds at k when a shot of the wanted caption is among the first k hits.

Latency: N random 768-D shots (the size of ViT-L-14 vectors) in a fresh embedded store; the
median and 95th percentile over 100 queries of the store query alone and of the whole
``search()`` (ViT-L-14 text encoding with random weights on this CPU + store + history).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import get_encoder
from shotseek.pipeline.evaluation import rank_of, recall_at, rrf
from shotseek.pipeline.models import SearchQuery, Shot, VideoRecord, shot_id_for
from shotseek.pipeline.runners import index_paths
from shotseek.pipeline.search import search
from shotseek.pipeline.store import ShotStore
from tests.kit.footage import Scene, random_footage, standard_footage
from tests.kit.shapes import COLORS, SHAPES, caption

TINY_CLIP = f"local-dir:{Path(__file__).resolve().parents[1] / 'tests' / 'kit' / 'tiny_clip'}"


def label_at(footages: dict[str, object], shot: Shot) -> str:
    footage = footages[Path(shot.path).name]
    middle = (shot.start + shot.end) / 2
    return next(s.label for s in footage.segments if s.start <= middle < s.end)


def recall(ranked_labels: list[list[str]], wanted: list[str], k: int) -> float:
    ranks = [rank_of(labels, lambda x, w=w: x == w) for labels, w in zip(ranked_labels, wanted)]
    return recall_at(ranks, k)


def quality(n_videos: int, tmp: Path) -> None:
    media = tmp / "media"
    footages = {"standard.mp4": standard_footage(media / "standard.mp4")}
    for seed in range(1, n_videos):
        footages[f"random{seed}.mp4"] = random_footage(media / f"random{seed}.mp4", seed=seed)
    settings = Settings(data_dir=tmp / "data", model=TINY_CLIP, device="cpu")
    rng = np.random.default_rng(0)
    with ShotStore(settings) as store:
        index_paths([media], settings, store=store)
        n_shots = store.count_shots(next(iter(store.models())))
        minutes = sum(f.duration for f in footages.values()) / 60
        print(
            f"quality: {len(footages)} generated videos, {minutes:.1f} min, {n_shots} shots, "
            f"tiny CLIP, 2 fps"
        )

        def ranked(query: SearchQuery) -> tuple[list[str], list[str]]:
            hits = search(settings, store, query.model_copy(update={"limit": 30})).hits
            return [label_at(footages, h.shot) for h in hits], [h.shot.shot_id for h in hits]

        labels = sorted({s.label for f in footages.values() for s in f.segments})
        scenes = {s.label: f for f in footages.values() for s in f.segments}
        stills = {}
        for label in labels:
            color, shape = label[2:].split(" ")
            scene = Scene(
                color,
                shape,
                1.0,
                background=int(rng.integers(20, 200)),
                start_xy=(float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.6))),
            )
            frame = scene.frame(0.3, 320, 180)[15:165, 30:290].astype(np.float32) * 1.1
            path = tmp / f"{color}_{shape}.png"
            Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(path)
            stills[label] = path
        assert scenes  # every label has footage
        text = [ranked(SearchQuery(text=label))[0] for label in labels]
        image = [ranked(SearchQuery(image=str(stills[label])))[0] for label in labels]
        both = [
            ranked(SearchQuery(text=label, image=str(stills[label]), image_weight=0.5))[0]
            for label in labels
        ]
        print(f"  {'queries':<34} {'n':>3} {'R@1':>6} {'R@5':>6}")
        for name, runs in (
            ("text", text),
            ("image (perturbed still)", image),
            ("text+image, same target", both),
        ):
            print(
                f"  {name:<34} {len(labels):3d} {recall(runs, labels, 1):6.3f} "
                f"{recall(runs, labels, 5):6.3f}"
            )

        weighted, fused, wanted = [], [], []
        for label in labels:
            color, shape = label[2:].split(" ")
            other_shape = next(s for s in SHAPES if s != shape)
            other_color = next(c for c in COLORS if c != color and c != "white")
            still = tmp / f"comp_{other_color}_{shape}.png"
            Image.fromarray(
                Scene(other_color, shape, 1.0, background=120).frame(0.3, 320, 180)
            ).save(still)
            t_labels, t_ids = ranked(SearchQuery(text=caption(color, other_shape)))
            i_labels, i_ids = ranked(SearchQuery(image=str(still)))
            w_labels, _ = ranked(
                SearchQuery(text=caption(color, other_shape), image=str(still), image_weight=0.5)
            )
            by_id = dict(zip(t_ids, t_labels)) | dict(zip(i_ids, i_labels))
            weighted.append(w_labels)
            fused.append([by_id[i] for i in rrf([t_ids, i_ids])])
            wanted.append(label)
        for name, runs in (
            ("composition, weighted 0.5 (kept)", weighted),
            ("composition, RRF of two searches", fused),
        ):
            print(
                f"  {name:<34} {len(wanted):3d} {recall(runs, wanted, 1):6.3f} "
                f"{recall(runs, wanted, 5):6.3f}"
            )


def fill_random_shots(
    store: ShotStore,
    encoder,
    size: int,
    rng: np.random.Generator,
    thumbnail: str | None = None,
    per_video: int = 500,
) -> float:
    """Store ``size`` random unit-vector shots (videos of ``per_video`` shots); returns seconds
    taken. Video ids continue after those already in the store."""
    first = len(store.list_videos(encoder.model_id)) if store.models() else 0
    t0 = time.perf_counter()
    for v in range(0, size, per_video):
        video_id = f"bench{first + v // per_video:06d}"
        run_id = uuid.uuid4().hex[:12]
        n = min(per_video, size - v)
        shots = [
            Shot(
                shot_id=shot_id_for(video_id, run_id, i),
                video_id=video_id,
                path=f"/bench/{video_id}.mp4",
                index=i,
                start=2.0 * i,
                end=2.0 * i + 2,
                scene=i // 3,
                class_index=i % 7,
                keyframe_time=2.0 * i + 1,
                thumbnail=thumbnail,
                frame_count=4,
            )
            for i in range(n)
        ]
        vectors = rng.normal(size=(n, encoder.dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        record = VideoRecord(
            video_id=video_id,
            path=f"/bench/{video_id}.mp4",
            file_name=f"{video_id}.mp4",
            size_bytes=1,
            duration=2.0 * n,
            width=640,
            height=360,
            fps_sampled=2.0,
            frame_count=4 * n,
            model_id=encoder.model_id,
            settings_key="bench",
            run_id=run_id,
            indexed_at=datetime.now(UTC),
            n_classes=7,
            n_scenes=n // 3,
            n_shots=n,
        )
        store.write_run(record, shots, vectors, encoder.spec)
    return time.perf_counter() - t0


def latency(sizes: list[int], tmp: Path) -> None:
    settings = Settings(data_dir=tmp / "latency", model="ViT-L-14", pretrained="none", device="cpu")
    encoder = get_encoder(settings)
    rng = np.random.default_rng(0)
    for size in sizes:
        settings = settings.model_copy(update={"data_dir": tmp / f"latency{size}"})
        with ShotStore(settings) as store:
            load = fill_random_shots(store, encoder, size, rng)
            queries = rng.normal(size=(100, encoder.dim)).astype(np.float32)
            store_ms, search_ms = [], []
            for q in queries:
                t0 = time.perf_counter()
                store.query(encoder.model_id, vector=q / np.linalg.norm(q), limit=10)
                store_ms.append(1000 * (time.perf_counter() - t0))
            for i in range(100):
                t0 = time.perf_counter()
                search(
                    settings,
                    store,
                    SearchQuery(text=f"a shot number {i}", limit=10),
                    encoder=encoder,
                )
                search_ms.append(1000 * (time.perf_counter() - t0))
            print(
                f"latency: {size:6d} shots ({encoder.dim}-D, embedded store, stored in "
                f"{load:.1f}s): store query median {statistics.median(store_ms):7.2f} ms "
                f"(p95 {np.percentile(store_ms, 95):7.2f}); whole search() with "
                f"{encoder.model_id} text encoding on CPU median "
                f"{statistics.median(search_ms):7.2f} ms (p95 {np.percentile(search_ms, 95):7.2f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--latency-sizes", type=int, nargs="*", default=[1000, 20000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        quality(args.videos, Path(tmp))
        if args.latency_sizes:
            latency(args.latency_sizes, Path(tmp))


if __name__ == "__main__":
    main()
