"""Encoder throughput (images/s) with random weights: no download needed.

    uv run python -m bench.bench_encoder [--models ViT-B-32 ViT-L-14] [--device auto]

"end to end" encodes 640x360 RGB frames (open_clip preprocessing on worker threads, then the
model); "model only" feeds already-preprocessed tensors. Figures depend on the machine: the
device, precision and thread count are printed with them.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from shotseek.pipeline.encoder import create_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["ViT-B-32", "ViT-L-14"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=0, help="0: chosen per device and model")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    for name in args.models:
        t0 = time.perf_counter()
        encoder = create_encoder(
            name, "none", device=args.device, precision=args.precision, batch_size=args.batch_size
        )
        load = time.perf_counter() - t0
        on_gpu = encoder.device.type != "cpu"
        batches = args.batches or (20 if on_gpu else (4 if "L" in name else 8))
        n = batches * args.batch_size
        frames = [rng.integers(0, 255, (360, 640, 3), dtype=np.uint8) for _ in range(n)]
        encoder.encode_images(frames[: args.batch_size])  # warm-up
        sync = torch.cuda.synchronize if encoder.device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        encoder.encode_images(frames)
        sync()
        end_to_end = n / (time.perf_counter() - t0)
        pixels = torch.stack([encoder._prepare(f) for f in frames[: args.batch_size]])
        encoder._image_batch(pixels)
        sync()
        t0 = time.perf_counter()
        for _ in range(batches):
            encoder._image_batch(pixels)
        sync()
        model_only = n / (time.perf_counter() - t0)
        device = torch.cuda.get_device_name() if encoder.device.type == "cuda" else "cpu"
        print(
            f"{encoder.model_id:<22} dim={encoder.dim:<4} {device} {encoder.precision} "
            f"threads={torch.get_num_threads()} batch={args.batch_size}: "
            f"{end_to_end:8.1f} images/s end to end, {model_only:8.1f} images/s model only "
            f"({n} images, load {load:.1f}s)"
        )


if __name__ == "__main__":
    main()
