"""Indexing throughput: video-seconds indexed per wall-clock second, against the encoder alone.

    uv run python -m bench.bench_index [--model ViT-B-32] [--minutes 10] [--height 720]
    uv run python -m bench.bench_index --model ViT-L-14 --minutes 2 --kinds ordinary

Generates H.264 footage (25 fps, ``--height`` 720 or 1080; kept in ``--footage-dir`` for the
next run): "ordinary" (moving shapes on noisy backdrops, cuts) and "static" (locked-off pictures
joined by cuts, like an interview or title cards). Then, each in a fresh process so its peak
memory is its own, with random weights (``none``: as fast as real weights):

- **encoder only**: the model on batches of already-preprocessed pixels, the ceiling;
- **pipeline**: the real ``index_video`` (sample, cut detection, stills, encode, analyse,
  thumbnails, store), with the busy time of each stage (threads add up);
- **no skip**: the same with ``still_threshold`` 0 (every sample embedded);
- **no overlap** (``--overlap``): the same with the model on the indexing thread and decoding
  between its batches, as before the encoder had workers on a CPU;
- **decode only**: the pipeline's decoding side alone (decode, conversions, cut detection,
  still check, thumbnails kept; no model): with the ceiling, the bound of decoding then
  encoding on the same cores (the two taking turns), of the two sharing the cores (the CPU
  case: decoding's CPU-seconds come out of the model's), and of the two overlapped (a GPU: one
  file cannot be indexed faster than it is decoded);
- **codec only**: FFmpeg decoding every frame and nothing else: what is left of the decoding
  side's CPU-seconds, and so of the shared-cores bound, once everything of ours is free;
- **decode no cuts**, **decode no thumbs** (``--decode-parts``): the decoding side alone again,
  without cut detection (no frame reduced or watched) and without the thumbnails kept in the
  pass, the decoding runs alternating ``DECODE_PART_ROUNDS`` times: with codec only, the split
  of the decoding side's CPU-seconds into FFmpeg, cut detection, thumbnails and the rest
  (sample conversions, still check, the sampler);
- **naive**: OpenCV reads every frame, one sample per 1/fps by frame number, open_clip's
  preprocessing, one image per model call: the baseline of a first attempt.

With ``--processes N`` or ``--ray [ADDRESS]`` it compares instead ``index_paths`` over
``--files`` ordinary files (``--minutes`` in all) indexed one at a time and several at once: N
decoding in processes of their own here, or on Ray (``local``: a Ray on this machine, the
default; or a cluster's address): video-seconds per wall-second of each.

Throughput is video-seconds per wall-second at ``--fps`` (2) samples per second.
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
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

import numpy as np

#: With ``--decode-parts``, the three decoding runs alternate this many times and each figure is
#: the run of median CPU time: a part is a difference of runs, and one run of each left noise of
#: ±1.5 CPU-s on 10 min of 720p (a part of 0.5 then -1.5).
DECODE_PART_ROUNDS = 3
SCENES = ("red square", "blue circle", "green star", "yellow triangle", "magenta circle")


def write_footage(path: Path, kind: str, minutes: float, height: int, seed: int = 0) -> None:
    """Stream-render and encode ``minutes`` of footage (frames are never all in memory)."""
    import av

    from tests.kit.footage import Scene

    rng = np.random.default_rng(seed)
    width = height * 16 // 9
    fps = 25
    noise = [rng.normal(0, 3.0, (height, width, 3)).astype(np.int16) for _ in range(8)]
    scenes = []
    t = 0.0
    while t < minutes * 60:
        color, shape = SCENES[len(scenes) % len(SCENES)].split()
        still = kind == "static"
        duration = float(rng.uniform(20, 40) if still else rng.uniform(3, 9))
        scenes.append(
            Scene(
                color,
                shape,
                duration,
                background=int(rng.integers(20, 200)),
                velocity=(0.0, 0.0) if still else (float(rng.uniform(-0.05, 0.05)), 0.0),
                spin=0.0 if still else 8.0,
                zoom=0.0 if still else float(rng.uniform(-0.02, 0.02)),
            )
        )
        t += duration
    time_base = Fraction(1, 1000)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = height, width, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"preset": "veryfast", "crf": "23"}
        n = 0
        for scene in scenes:
            for i in range(int(scene.duration * fps)):
                img = scene.frame(i / fps, width, height)
                if kind != "static":  # sensor noise: real footage is never flat
                    img = np.clip(img + noise[n % len(noise)], 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts, frame.time_base = round(n * 1000 / fps), time_base
                container.mux(stream.encode(frame))
                n += 1
                if n >= minutes * 60 * fps:
                    break
        container.mux(stream.encode())


def _settings(args: dict, data: Path, still: float | None = None):
    from shotseek.pipeline.config import Settings

    extra: dict = {} if still is None else {"still_threshold": still}
    if args.get("ray"):
        extra["ray"] = args["ray"]
    if args.get("processes"):
        extra["decode_processes"] = args["processes"]
    return Settings(
        data_dir=data,
        model=args["model"],
        pretrained="none",
        fps=args["fps"],
        device=args["device"],
        **extra,
    )


def _timed(owner, name: str, busy: dict, label: str) -> None:
    """Replace ``owner.name`` by a wrapper that adds its wall time to ``busy[label]``."""
    original = getattr(owner, name)

    def wrapper(*a, **k):
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            busy[label] += time.perf_counter() - t0

    setattr(owner, name, wrapper)


def encoder_only(args: dict) -> dict:
    """The model alone on already-preprocessed batches, both ways it can use a CPU: one batch
    at a time on every core, and (what indexing does there) a batch per worker, each worker on
    one core. The ceiling is the faster of the two."""
    import torch

    from shotseek.pipeline.encoder import get_encoder

    encoder = get_encoder(_settings(args, Path(args["data"])))
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (448, 796, 3), dtype=np.uint8) for _ in range(32)]
    pixels = torch.stack([encoder._prepare(f) for f in frames])
    # batches as the pipeline makes them (on a GPU as many as its memory holds, not 32)
    pixels = pixels.repeat(-(-encoder.batch_size // len(frames)), 1, 1, 1)[: encoder.batch_size]
    encoder._image_batch(pixels)
    batches = args["batches"]
    t0 = time.perf_counter()
    for _ in range(batches):
        encoder._image_batch(pixels)
    rates = {"every core": batches * len(pixels) / (time.perf_counter() - t0)}
    if encoder.workers > 1:  # the encoder's own workers, each on one intra-op thread
        pool, run = encoder._workers, lambda _: encoder._image_batch(pixels)
        list(pool.map(run, range(encoder.workers)))
        runs = batches * encoder.workers
        t0 = time.perf_counter()
        list(pool.map(run, range(runs)))
        rates["a batch per worker"] = runs * len(pixels) / (time.perf_counter() - t0)
    images_per_s = max(rates.values())
    return {"images_per_s": images_per_s, "video_s_per_s": images_per_s / args["fps"], **rates}


def pipeline(args: dict, still: float | None, overlap: bool = True) -> dict:
    from shotseek.pipeline import cuts, encoder, index, stills, thumbnails, video
    from shotseek.pipeline.encoder import get_encoder
    from shotseek.pipeline.store import ShotStore

    if not overlap:  # as before: the model on the indexing thread, decoding between batches
        index.prefetch = lambda items, depth, name: iter(items)
    busy: dict[str, float] = defaultdict(float)
    _timed(video, "_to_rgb", busy, "convert samples (+ thumbnails)")
    _timed(video, "_to_bgr_small", busy, "convert for cuts")
    _timed(cuts.CutDetector, "feed", busy, "cut detection")
    _timed(stills.StillFilter, "is_still", busy, "still check")
    _timed(thumbnails.KeptThumbnails, "add", busy, "keep thumbnails (JPEG, write)")
    _timed(encoder.ClipEncoder, "_prepare", busy, "preprocess")
    _timed(encoder.ClipEncoder, "_image_batch", busy, "encode")
    calls = []
    original_batch = encoder.ClipEncoder._image_batch
    encoder.ClipEncoder._image_batch = lambda self, px: (
        calls.append(len(px)) or original_batch(self, px)
    )
    iterate = video.FrameSampler.__iter__

    def sampling(self):  # decode + conversions + cut detection, as the consumer waits for it
        it = iterate(self)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                busy["sampler (decode + above)"] += time.perf_counter() - t0
                return
            busy["sampler (decode + above)"] += time.perf_counter() - t0
            yield item

    video.FrameSampler.__iter__ = sampling
    settings = _settings(args, Path(args["data"]), still)
    enc = get_encoder(settings)
    if not overlap and enc._workers is not None:
        from concurrent.futures import ThreadPoolExecutor

        enc._workers, enc._pool = None, ThreadPoolExecutor(enc.workers)
    stamps: list[tuple[str, float]] = []
    with ShotStore(settings) as store:
        t0 = time.perf_counter()
        outcome = index.index_video(
            args["video"],
            settings,
            store=store,
            encoder=enc,
            progress=lambda e: stamps.append((e.stage, time.perf_counter())),
        )
        wall = time.perf_counter() - t0
    for (stage, at), (_, nxt) in zip(stamps, stamps[1:]):
        if stage in ("analyse", "thumbnails", "store"):
            busy[stage] += nxt - at
    return {
        "wall": wall,
        "duration": outcome.duration,
        "video_s_per_s": outcome.duration / wall,
        "shots": outcome.n_shots,
        "model_images": sum(calls),
        "model_threads": enc.workers if enc._workers is not None else 1,
        "busy": dict(busy),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def decode_only(args: dict) -> dict:
    """The decoding side of a pipeline run alone (decode, conversions, cut detection, still
    check, thumbnails kept; no model): with the ceiling it bounds what the two stages can reach,
    taking turns or sharing the cores (its CPU-seconds). "decode no cuts" and "decode no thumbs"
    leave out a part of it."""
    from shotseek.pipeline.encoder import get_encoder
    from shotseek.pipeline.sampling import Decoding, Sampling, sample_side
    from shotseek.pipeline.thumbnails import KeptThumbnails
    from shotseek.pipeline.video import probe

    settings = _settings(args, Path(args["data"]))
    if args["what"] == "decode no cuts":
        settings = settings.model_copy(update={"cut_threshold": 0.0})  # nothing watches frames
    encoder = get_encoder(settings)
    side = sample_side(settings, encoder)
    decoding = Decoding.for_model(settings, encoder.frees_the_caller)
    path = Path(args["video"])
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    kept = None if args["what"] == "decode no thumbs" else KeptThumbnails(settings)
    keep = kept.add if kept is not None else None
    sampling = Sampling(path, probe(path), settings, side, decoding, keep=keep)
    embedded = sum(1 for _ in sampling.images())
    sampled = sampling.finish()
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    thumbnails = kept.count if kept is not None else 0
    if kept is not None:
        kept.close()
    return {
        "wall": wall,
        "cpu_s": cpu,
        "duration": sampled.end_time,
        "video_s_per_s": sampled.end_time / wall,
        "model_images": embedded,
        "thumbnails": thumbnails,
    }


def codec_only(args: dict) -> dict:
    """FFmpeg decoding every frame as the sampler has it decode them (its threads), and
    nothing else: the floor of the decoding side's CPU-seconds for any pipeline that looks at
    every frame (cut detection does)."""
    import av

    from shotseek.pipeline.encoder import get_encoder
    from shotseek.pipeline.sampling import Decoding

    settings = _settings(args, Path(args["data"]))
    threads = Decoding.for_model(settings, get_encoder(settings).frees_the_caller).threads
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    with av.open(args["video"]) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        frames = sum(1 for _ in container.decode(stream))
    return {"wall": time.perf_counter() - t0, "cpu_s": _cpu_seconds() - cpu0, "frames": frames}


def naive(args: dict) -> dict:
    import cv2
    import torch
    from PIL import Image

    from shotseek.pipeline.encoder import get_encoder

    encoder = get_encoder(_settings(args, Path(args["data"])))
    capture = cv2.VideoCapture(args["video"])
    rate = capture.get(cv2.CAP_PROP_FPS) or 25.0
    t0 = time.perf_counter()
    index = kept = 0
    next_sample = 0.0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index / rate >= next_sample:
            image = Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            pixels = encoder.preprocess(image).unsqueeze(0)
            with torch.inference_mode():
                encoder.model.encode_image(pixels)
            kept += 1
            next_sample += 1.0 / args["fps"]
        index += 1
    wall = time.perf_counter() - t0
    duration = index / rate
    return {"wall": wall, "duration": duration, "video_s_per_s": duration / wall, "images": kept}


def many_files(args: dict) -> dict:
    """index_paths over a folder of files: one at a time, several at once in processes
    (``args["processes"]``), or on Ray (``args["ray"]``)."""
    from shotseek.pipeline.runners import index_paths
    from shotseek.pipeline.store import ShotStore

    settings = _settings(args, Path(args["data"]))
    with ShotStore(settings) as store:
        t0 = time.perf_counter()
        report = index_paths([args["folder"]], settings, store=store)
        wall = time.perf_counter() - t0
    assert all(r.status == "indexed" for r in report.results), report
    duration = sum(r.duration or 0 for r in report.results)
    return {
        "wall": wall,
        "duration": duration,
        "video_s_per_s": duration / wall,
        "shots": sum(r.n_shots or 0 for r in report.results),
        "files": len(report.results),
    }


def compare_many(args: argparse.Namespace, tmp: str) -> None:
    """``--files`` files indexed one at a time, then several at once: in ``--processes``
    worker processes, or on Ray (``--ray``)."""
    folder = (
        args.footage_dir / f"shotseek-bench-many-{args.files}x{args.minutes:g}min-{args.height}p"
    )
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for k in range(args.files):
        path = folder / f"part{k}.mp4"
        if not path.exists():
            write_footage(path, "ordinary", args.minutes / args.files, args.height, seed=k)
    print(f"  (footage ready in {time.perf_counter() - t0:.0f} s)")
    common = {"model": args.model, "fps": args.fps, "device": args.device, "folder": str(folder)}
    here = run_child({**common, "what": "files", "data": f"{tmp}/here", "processes": 1})
    if args.ray:
        label, other = f"ray ({args.ray})", {"ray": args.ray}
    else:
        label, other = f"{args.processes} processes", {"processes": args.processes}
    there = run_child({**common, "what": "files", "data": f"{tmp}/there", **other})
    print(
        f"# {args.model} (random weights), {args.files} files, {here['duration']:.0f} s of "
        f"{args.height}p video in all, {args.fps:g} samples/s, {os.cpu_count()} cores"
    )
    for name, r in (("one at a time", here), (label, there)):
        print(
            f"  {name:<14} {r['video_s_per_s']:7.2f} video-s/s  wall {r['wall']:7.1f} s  "
            f"{r['shots']} shots  peak RSS (this process) {r['peak_rss_gb']:.2f} GB"
        )
    print(f"  {label} / one at a time: {there['video_s_per_s'] / here['video_s_per_s']:.2f}x")


def child(args: dict) -> None:
    what = args["what"]
    if what == "files":
        result = many_files(args)
    elif what == "encoder":
        result = encoder_only(args)
    elif what == "naive":
        result = naive(args)
    elif what in ("decode only", "decode no cuts", "decode no thumbs"):
        result = decode_only(args)
    elif what == "codec only":
        result = codec_only(args)
    else:
        result = pipeline(args, 0.0 if what == "no skip" else None, what != "no overlap")
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result))


def run_child(args: dict) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "bench.bench_index", "--child", json.dumps(args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--height", type=int, default=720, choices=[360, 720, 1080])
    parser.add_argument("--fps", type=float, default=2.0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--kinds", nargs="+", default=["ordinary", "static"])
    parser.add_argument("--skip-naive", action="store_true", help="leave out the naive baseline")
    parser.add_argument("--overlap", action="store_true", help="also run without stage overlap")
    parser.add_argument("--ceiling-batches", type=int, default=4, help="encoder batches timed")
    parser.add_argument(
        "--decode-parts",
        action="store_true",
        help="also split the decoding side's CPU-seconds (two more decoding runs)",
    )
    parser.add_argument("--footage-dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument(
        "--ray", nargs="?", const="local", help="compare with Ray (local, or an address)"
    )
    parser.add_argument(
        "--processes", type=int, help="compare with this many files decoded at once here"
    )
    parser.add_argument(
        "--files", type=int, default=4, help="with --ray or --processes: files to index"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    if args.ray or args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            compare_many(args, tmp)
        return

    args.footage_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        common = {
            "model": args.model,
            "fps": args.fps,
            "device": args.device,
            "batches": args.ceiling_batches,
        }
        print(
            f"# {args.model} (random weights), {args.fps:g} samples/s, {args.height}p 25 fps; "
            "the ceiling is the encoder alone, measured before and after each footage's runs "
            "(this machine's speed drifts), their mean"
        )
        before = run_child({**common, "what": "encoder", "data": f"{tmp}/enc"})
        for kind in args.kinds:
            path = (
                args.footage_dir / f"shotseek-bench-{kind}-{args.height}p-{args.minutes:g}min.mp4"
            )
            if not path.exists():
                t0 = time.perf_counter()
                write_footage(path, kind, args.minutes, args.height)
                print(f"  (generated {path.name} in {time.perf_counter() - t0:.0f} s)")
            runs = ["pipeline"] + (["no skip"] if kind == "static" else [])
            runs += ["no overlap"] if args.overlap and kind == "ordinary" else []
            runs += [] if args.skip_naive else ["naive"]
            decodings = ["decode only", "codec only"]
            decodings += ["decode no cuts", "decode no thumbs"] if args.decode_parts else []
            rounds = DECODE_PART_ROUNDS if args.decode_parts else 1
            timed: dict[str, list[dict]] = defaultdict(list)
            for what in runs + decodings * rounds:
                data = f"{tmp}/{kind}-{what.replace(' ', '-')}-{len(timed[what])}"
                timed[what].append(
                    run_child({**common, "what": what, "video": str(path), "data": data})
                )
            results = {  # the run of median CPU time of each
                what: sorted(got, key=lambda r: r.get("cpu_s", 0.0))[len(got) // 2]
                for what, got in timed.items()
            }
            codec = results.pop("codec only")
            after = run_child({**common, "what": "encoder", "data": f"{tmp}/enc"})
            ceiling = {k: (before[k] + after[k]) / 2 for k in ("images_per_s", "video_s_per_s")}
            main_run = results["pipeline"]
            ways = ", ".join(
                f"{way} {before[way]:.2f} then {after[way]:.2f}"
                for way in ("every core", "a batch per worker")
                if way in before
            )
            print(
                f"{kind}: {main_run['duration']:.0f} s of video, {main_run['shots']} shots, "
                f"{main_run['model_images']} images through the model; encoder alone "
                f"(images/s: {ways}): ceiling {ceiling['video_s_per_s']:.2f} video-s/s"
            )
            for what, r in results.items():
                ratio = r["video_s_per_s"] / ceiling["video_s_per_s"]
                print(
                    f"  {what:<17} {r['video_s_per_s']:7.2f} video-s/s  "
                    f"({ratio:4.2f} of the ceiling)  wall {r['wall']:7.1f} s  "
                    f"peak RSS {r['peak_rss_gb']:.2f} GB"
                )
            # Decoding, then the model, each on every core with nothing else to do (no
            # thumbnails, no analysis): what the two taking turns on a CPU can reach.
            decode = results["decode only"]
            bound = main_run["duration"] / (
                decode["model_images"] / ceiling["images_per_s"] + decode["wall"]
            )
            print(
                f"  decoding then encoding, nothing else: {bound:.2f} video-s/s "
                f"({bound / ceiling['video_s_per_s']:.2f} of the ceiling)"
            )
            # Sharing the cores (the CPU case now: the model's workers and the decoding thread
            # run at once), the decoding side's CPU time is taken from the model's cores.
            cores = os.cpu_count() or 1
            model_s = decode["model_images"] / ceiling["images_per_s"]
            shared = main_run["duration"] / (model_s + decode["cpu_s"] / cores)
            print(
                f"  the two sharing the {cores} cores, nothing else "
                f"(decoding {decode['cpu_s']:.1f} CPU-s): {shared:.2f} video-s/s "
                f"({shared / ceiling['video_s_per_s']:.2f} of the ceiling)"
            )
            # FFmpeg's share of that: what is left with every frame decoded and nothing done to it.
            floor = main_run["duration"] / (model_s + codec["cpu_s"] / cores)
            print(
                f"  of which FFmpeg decoding the {codec['frames']} frames alone "
                f"{codec['cpu_s']:.1f} CPU-s ({codec['wall']:.1f} s), the rest (reductions, cut "
                f"detection, conversions, still check, thumbnails) "
                f"{decode['cpu_s'] - codec['cpu_s']:.1f}: with the decoder alone "
                f"{floor:.2f} video-s/s ({floor / ceiling['video_s_per_s']:.2f} of the ceiling), "
                "the most that looking at every frame allows"
            )
            if "decode no cuts" in results:
                spread = ", ".join(
                    f"{what} {min(r['cpu_s'] for r in timed[what]):.1f}–"
                    f"{max(r['cpu_s'] for r in timed[what]):.1f}"
                    for what in decodings
                )
                print(f"  decoding CPU-s in {rounds} runs each: {spread} (medians below)")
                cuts_s = decode["cpu_s"] - results["decode no cuts"]["cpu_s"]
                thumbs_s = decode["cpu_s"] - results["decode no thumbs"]["cpu_s"]
                print(
                    f"  the decoding side's {decode['cpu_s']:.1f} CPU-s: FFmpeg "
                    f"{codec['cpu_s']:.1f}, cut detection {cuts_s:.1f}, thumbnails kept "
                    f"{thumbs_s:.1f} ({decode['thumbnails']} of {decode['model_images']} "
                    f"samples embedded), the rest (sample conversions, still check, the "
                    f"sampler) {decode['cpu_s'] - codec['cpu_s'] - cuts_s - thumbs_s:.1f}"
                )
            # Where they overlap (the model on a GPU, or cores to spare), the slower one is all.
            overlapped = min(decode["video_s_per_s"], ceiling["video_s_per_s"])
            print(
                f"  the two overlapped, nothing else: {overlapped:.2f} video-s/s "
                f"({overlapped / ceiling['video_s_per_s']:.2f} of the ceiling)"
            )
            if "naive" in results:
                speedup = main_run["video_s_per_s"] / results["naive"]["video_s_per_s"]
                print(f"  pipeline / naive: {speedup:.2f}x")
            if "no overlap" in results:
                gain = main_run["video_s_per_s"] / results["no overlap"]["video_s_per_s"]
                print(f"  pipeline / no overlap: {gain:.2f}x")
            if "no skip" in results:
                gain = main_run["video_s_per_s"] / results["no skip"]["video_s_per_s"]
                same = main_run["shots"] == results["no skip"]["shots"]
                print(f"  pipeline / no skip: {gain:.2f}x (same shot count: {same})")
            busy = ", ".join(f"{k} {v:.1f}s" for k, v in main_run["busy"].items())
            print(f"  busy: {busy}")
            if main_run["busy"].get("encode"):
                # its busy time adds up over the workers running batches side by side
                threads = main_run["model_threads"]
                inside = main_run["model_images"] * threads / main_run["busy"]["encode"]
                print(
                    f"  the model inside the pipeline: {inside:.2f} images/s "
                    f"({inside / ceiling['images_per_s']:.2f} of its speed alone; "
                    f"{threads} batch{'es' if threads > 1 else ''} at a time)"
                )
            before = after


if __name__ == "__main__":
    main()
