"""Train the tiny CLIP fixture that lets the test suite search by meaning without network.

Usage (from the repository root; about 15 minutes on 2 CPU cores)::

    uv run python -m tests.kit.train_tiny_clip --out tests/kit/tiny_clip

It writes ``open_clip_config.json`` and ``open_clip_model.safetensors`` (float16, under 8 MB) into
the output folder, so the fixture loads through the same open_clip code path as real models:
``--model local-dir:tests/kit/tiny_clip``. The standard CLIP tokenizer is used; the image tower is
open_clip's ModifiedResNet (``vision_cfg.layers`` is a list of four), which learns this task far
faster on a CPU than a tiny ViT. Training images are rendered as 4:3 and 16:9 frames and passed
through the model's own inference preprocessing (resize shortest side, centre crop), so training
sees what indexing later sees. Everything is seeded: the same command gives the same weights.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from tests.kit.shapes import CLASSES, ShapeSpec, caption, render

log = logging.getLogger("train_tiny_clip")

MODEL_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 4, "layers": 2},
}
PREPROCESS_CFG: dict = {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}
#: Frame sizes the training pictures are rendered at: 4:3 and 16:9, small to large.
FRAME_SIZES: tuple[tuple[int, int], ...] = (
    (160, 120),
    (192, 144),
    (256, 192),
    (320, 240),
    (192, 108),
    (256, 144),
    (320, 180),
    (426, 240),
)
TEMPLATES: tuple[str, ...] = (
    "a {c} {s}",
    "{c} {s}",
    "a photo of a {c} {s}",
    "a {c} {s} on a plain background",
    "the {c} {s}",
    "a picture of a {c} {s}",
)


def random_picture(rng: np.random.Generator) -> tuple[Image.Image, int]:
    """One training picture: a random class drawn like a frame of generated footage."""
    label = int(rng.integers(len(CLASSES)))
    color, shape = CLASSES[label]
    w, h = FRAME_SIZES[int(rng.integers(len(FRAME_SIZES)))]
    # The centre crop keeps the middle square of the frame: put the shape's centre inside it,
    # close enough to its edges that large shapes are sometimes cut off.
    short = min(w, h)
    half_x, half_y = 0.5 * short / w, 0.5 * short / h
    cx = 0.5 + rng.uniform(-0.85, 0.85) * half_x
    cy = 0.5 + rng.uniform(-0.85, 0.85) * half_y
    spec = ShapeSpec(
        color=color,
        shape=shape,
        cx=float(cx),
        cy=float(cy),
        size=float(rng.uniform(0.10, 0.42)),
        angle=float(rng.uniform(-30, 30)),
    )
    img = render(
        w,
        h,
        background=int(rng.integers(5, 215)),
        shapes=[spec],
        brightness=float(rng.uniform(0.85, 1.15)),
        noise=float(rng.uniform(0.0, 8.0)),
        rng=rng,
        color_jitter=18,
    )
    pil = Image.fromarray(img)
    if rng.random() < 0.5:  # codec-like artefacts
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=int(rng.integers(30, 90)))
        buf.seek(0)
        pil = Image.open(buf).convert("RGB")
    return pil, label


def make_set(n: int, seed: int, preprocess) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for _ in range(n):
        pil, label = random_picture(rng)
        xs.append(preprocess(pil))
        ys.append(label)
    return torch.stack(xs), torch.tensor(ys)


def class_texts(template_idx: list[int]) -> list[str]:
    return [TEMPLATES[t].format(c=c, s=s) for t, (c, s) in zip(template_idx, CLASSES)]


@torch.inference_mode()
def accuracy(model, tokenizer, images: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    text = F.normalize(model.encode_text(tokenizer([caption(c, s) for c, s in CLASSES])), dim=-1)
    correct = 0
    for i in range(0, len(images), 512):
        img = F.normalize(model.encode_image(images[i : i + 512]), dim=-1)
        correct += int((img @ text.T).argmax(dim=1).eq(labels[i : i + 512]).sum())
    return correct / len(images)


def train(out: Path, steps: int, batch: int, n_train: int, n_val: int, seed: int) -> dict:
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    out.mkdir(parents=True, exist_ok=True)
    config = {"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n")
    # Build through open_clip from the folder itself: the same path the encoder uses later.
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{out}")
    n_params = sum(p.numel() for p in model.parameters())
    log.info("model: %.2fM parameters", n_params / 1e6)

    t0 = time.perf_counter()
    x_train, y_train = make_set(n_train, seed, preprocess)
    x_val, y_val = make_set(n_val, seed + 1_000_003, preprocess)
    log.info("rendered %d + %d pictures in %.0fs", n_train, n_val, time.perf_counter() - t0)

    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    no_decay = [
        p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)
    ]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
        lr=2e-3,
    )
    warmup = max(1, steps // 20)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    history = []
    for step in range(steps):
        model.train()
        idx = torch.randint(len(x_train), (batch,), generator=gen)
        templates = torch.randint(len(TEMPLATES), (len(CLASSES),), generator=gen).tolist()
        img = F.normalize(model.encode_image(x_train[idx]), dim=-1)
        txt = F.normalize(model.encode_text(tokenizer(class_texts(templates))), dim=-1)
        logits = model.logit_scale.exp() * img @ txt.T
        labels = y_train[idx]
        # Image -> caption and caption -> image (each caption against the images of its class).
        loss_i = F.cross_entropy(logits, labels)
        present = labels.unique()
        target = (labels[None, :] == present[:, None]).float()
        loss_t = -(F.log_softmax(logits.T[present], dim=1) * target / target.sum(1, keepdim=True))
        loss = loss_i + loss_t.sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if (step + 1) % 250 == 0 or step + 1 == steps:
            acc = accuracy(model, tokenizer, x_val, y_val)
            history.append({"step": step + 1, "loss": round(loss.item(), 4), "val_acc": acc})
            log.info(
                "step %d loss %.3f held-out acc %.3f (%.0fs)",
                step + 1,
                loss.item(),
                acc,
                time.perf_counter() - t0,
            )

    model.eval()
    state = {
        k: (v.half() if v.is_floating_point() else v).contiguous()
        for k, v in model.state_dict().items()
    }
    save_file(state, str(out / "open_clip_model.safetensors"))
    report = {
        "seed": seed,
        "steps": steps,
        "batch": batch,
        "train_pictures": n_train,
        "heldout_pictures": n_val,
        "parameters": n_params,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "heldout_accuracy_fp32": history[-1]["val_acc"],
        "history": history,
    }
    (out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "tiny_clip")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--train-pictures", type=int, default=16000)
    parser.add_argument("--heldout-pictures", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    report = train(
        args.out, args.steps, args.batch, args.train_pictures, args.heldout_pictures, args.seed
    )
    log.info("held-out accuracy %.3f", report["heldout_accuracy_fp32"])


if __name__ == "__main__":
    main()
