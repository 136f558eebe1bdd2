"""Candidate models side by side: their speed measured here, their quality as published.

    uv run python -m bench.bench_models [--models ViT-B-16-SigLIP-256 ...] [--device auto]
    uv run python -m bench.bench_models --check-offline   # each loads from a local file?

Random weights (no download): a model computes as fast with them as with its real weights. Per
model: parameters, image throughput of the model alone (batches of preprocessed pixels at its
input size), the latency of one text query (what a search pays), and what the throughput means
for indexing at 2 sampled frames per second (video-seconds per second). The quality columns
are copied from the publishers (see PUBLISHED); "—" where a figure was not published so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import open_clip
import torch
from safetensors.torch import save_file

from shotseek.pipeline.encoder import create_encoder, pick_device, pick_precision
from shotseek.pipeline.errors import ModelUnavailableError

# (model, tag) → (ImageNet zero-shot top-1 %, average over the 38 DataComp datasets %,
# MSCOCO text→image R@1 %, source). Sources: open_clip docs/openclip_results.csv and
# docs/openclip_retrieval_results.csv (commit 89fb801); the model cards of apple/MobileCLIP2-*
# and google/siglip2-base-patch16-256 on the Hugging Face Hub.
PUBLISHED: dict[tuple[str, str], tuple[float | None, float | None, float | None, str]] = {
    ("ViT-B-32-quickgelu", "metaclip_fullcc"): (67.7, 55.8, 38.1, "open_clip"),
    ("ViT-L-14-quickgelu", "metaclip_fullcc"): (79.2, 65.9, 47.1, "open_clip"),
    ("ViT-B-16-SigLIP-256", "webli"): (76.5, 62.3, 48.3, "open_clip"),
    ("ViT-L-16-SigLIP-256", "webli"): (80.5, 65.6, 52.3, "open_clip"),
    ("ViT-B-16-SigLIP2-256", "webli"): (79.1, None, 53.2, "model card"),
    ("MobileCLIP2-S2", "dfndr2b"): (77.2, 64.1, None, "model card"),
}
# The weights' licence, from each family's model card or repository: what an archive may do.
LICENCES = {
    "metaclip_fullcc": "CC-BY-NC-4.0 (no commercial use)",
    "dfndr2b": "Apple ML research (research only)",
    "webli": "Apache-2.0",
    "meta": "Apache-2.0",
}

CANDIDATES = [
    ("ViT-B-32-quickgelu", "metaclip_fullcc"),
    ("MobileCLIP2-S2", "dfndr2b"),
    ("ViT-B-16-SigLIP-256", "webli"),
    ("ViT-B-16-SigLIP2-256", "webli"),
    ("PE-Core-B-16", "meta"),
    ("ViT-L-14-quickgelu", "metaclip_fullcc"),
    ("ViT-L-16-SigLIP-256", "webli"),
    ("ViT-L-16-SigLIP2-256", "webli"),
    ("PE-Core-L-14-336", "meta"),
]

SAMPLE_FPS = 2.0  # the default sampling rate: video-seconds per second = images/s / 2


@dataclass
class Row:
    name: str
    tag: str
    params_m: float
    size: int
    dim: int
    images_per_s: float
    query_ms: float


def measure(name: str, tag: str, device: torch.device, precision: str, batch: int, batches: int):
    model = open_clip.create_model(name, pretrained=None, device=device, precision=precision)
    model.eval()
    size = open_clip.get_model_config(name)["vision_cfg"]["image_size"]
    size = size if isinstance(size, int) else size[0]
    context = model.context_length if hasattr(model, "context_length") else 77
    vocab = getattr(model, "vocab_size", None) or 1000
    dtype = next(model.parameters()).dtype
    tokens = torch.randint(1, min(vocab, 30000), (1, context), device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    pixels = torch.rand(batch, 3, size, size, device=device, dtype=dtype)
    with torch.no_grad():
        dim = model.encode_image(pixels[:1]).shape[-1]
        model.encode_image(pixels)  # warm-up
        sync()
        t0 = time.perf_counter()
        for _ in range(batches):
            model.encode_image(pixels)
        sync()
        images_per_s = batch * batches / (time.perf_counter() - t0)
        model.encode_text(tokens)
        times = []
        for _ in range(7):
            sync()
            t0 = time.perf_counter()
            model.encode_text(tokens)
            sync()
            times.append(time.perf_counter() - t0)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return Row(
        name,
        tag,
        params,
        size,
        dim,
        images_per_s,
        statistics.median(times) * 1000,
    )


def check_offline(name: str, tag: str, folder: Path) -> str:
    """Save the model's random weights to a file and load it the way a user without network
    would (``--pretrained FILE --checkpoint-tag TAG``, hub offline): its tag's preprocessing and
    a working tokenizer, or the error that says what to fetch."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    model = open_clip.create_model(name, pretrained=None)
    path = folder / f"{name}.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, path)
    del model
    try:
        encoder = create_encoder(name, str(path), checkpoint_tag=tag, device="cpu")
    except ModelUnavailableError as exc:
        return f"refused: {exc}"
    finally:
        path.unlink()
    want = open_clip.get_pretrained_cfg(name, tag)
    norm = next(t for t in encoder.preprocess.transforms if type(t).__name__ == "Normalize")
    resize = next(t for t in encoder.preprocess.transforms if type(t).__name__ == "Resize")
    same = tuple(norm.mean) == tuple(want.get("mean", norm.mean)) and tuple(norm.std) == tuple(
        want.get("std", norm.std)
    )
    interpolation = want.get("interpolation", "bicubic")
    tokens = encoder.tokenizer(["a man rides a bicycle"])
    vector = encoder.encode_text("a man rides a bicycle")
    return (
        f"loads: {encoder.model_id}, mean/std {'as the tag' if same else 'WRONG'}, "
        f"{resize.interpolation.value} resize (tag: {interpolation}), tokenizer "
        f"{type(encoder.tokenizer).__name__} ({tokens.shape[-1]} tokens), vector {vector.shape}"
    )


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", help="open_clip names (default: the candidates)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--batch-size", type=int, default=0, help="0: 8 on CPU, 64 on a GPU")
    parser.add_argument("--batches", type=int, default=0, help="0: 2 on CPU, 20 on a GPU")
    parser.add_argument("--check-offline", action="store_true", help="load each from a file")
    args = parser.parse_args()
    tags = dict(CANDIDATES)
    if args.check_offline:
        with tempfile.TemporaryDirectory() as folder:
            for name in args.models or list(tags):
                print(f"{name}/{tags.get(name)}: {check_offline(name, tags[name], Path(folder))}")
        return

    device = pick_device(args.device)
    precision = pick_precision(args.precision, device)
    on_gpu = device.type != "cpu"
    batch = args.batch_size or (64 if on_gpu else 8)
    batches = args.batches or (20 if on_gpu else 2)
    wanted = args.models or [name for name, _ in CANDIDATES]
    where = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    print(
        f"# {where}, {precision}, torch threads {torch.get_num_threads()}, batch {batch}, "
        f"random weights; published figures: ImageNet top-1 / 38-dataset average / "
        f"COCO text→image R@1 (%)"
    )
    header = (
        f"{'model':<21} {'tag':<16} {'params M':>8} {'px':>4} "
        f"{'dim':>5} {'images/s':>9} {'video-s/s':>9} {'query ms':>8}  {'IN-1k':>5} "
        f"{'avg38':>5} {'COCO':>5}  source      licence"
    )
    print(header)
    print("-" * len(header))
    for name in wanted:
        tag = tags.get(name, "")
        row = measure(name, tag, device, precision, batch, batches)
        imagenet, avg38, coco, source = PUBLISHED.get((name, tag), (None, None, None, "—"))
        print(
            f"{row.name:<21} {row.tag:<16} {row.params_m:8.1f} {row.size:4d} {row.dim:5d} "
            f"{row.images_per_s:9.2f} {row.images_per_s / SAMPLE_FPS:9.2f} {row.query_ms:8.1f}  "
            f"{_fmt(imagenet):>5} {_fmt(avg38):>5} {_fmt(coco):>5}  {source:<10}  "
            f"{LICENCES.get(tag, '—')}",
            flush=True,
        )
        if on_gpu:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
