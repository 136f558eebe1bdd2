"""The CLIP encoder: images and text → L2-normalised float32 vectors in one space.

Every model is built by :func:`create_encoder` (cached per process by :func:`get_encoder`) from
an open_clip name and a ``pretrained`` value:

=========================  ==========================================================
``model``                  ``pretrained``
=========================  ==========================================================
open_clip name             a tag from open_clip's table (weights from the hub, cached),
(``ViT-L-14-quickgelu``)   a checkpoint file (with ``checkpoint_tag`` for its
                           preprocessing and QuickGELU), or ``none`` (random weights:
                           speed benchmarks and plumbing tests only)
``hf-hub:org/repo``        ignored: config and weights come from that hub repository
``local-dir:/path``        ignored: ``open_clip_config.json`` + weights in the folder
=========================  ==========================================================

A tag carries its preprocessing (mean/std, interpolation, resize mode) and whether it was
trained with QuickGELU; both are applied here, since open_clip itself only warns when the
architecture's activation does not match the tag's. This module is the only one that imports
open_clip.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import difflib
import functools
import hashlib
import itertools
import logging
import os
import socket
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import open_clip
import torch
from PIL import Image

from shotseek.pipeline.config import (
    AUTO_BATCH,
    AUTO_MODEL,
    BATCH_PROBE,
    BEST_PRETRAINED,
    CPU_BATCH,
    CPU_MODEL,
    CPU_PRETRAINED,
    CPU_WORKER_BATCH_MIN,
    DEFAULT_MODEL,
    DEFAULT_PRETRAINED,
    GPU_BATCH_MAX,
    GPU_MEMORY_SHARE,
    Settings,
)
from shotseek.pipeline.errors import ConfigError, ModelUnavailableError, UnknownModelError
from shotseek.pipeline.tokens import overflow_note

log = logging.getLogger(__name__)

SourceKind = Literal["tag", "checkpoint", "random", "hf-hub", "local-dir"]
_RANDOM = "none"
_RANDOM_SEED = 0  # random weights are the same in every process, so ids stay meaningful


@dataclass(frozen=True)
class ModelSource:
    """A model name + pretrained value, resolved to what will be loaded and how."""

    kind: SourceKind
    model: str  # architecture name, or the hf-hub:/local-dir: identifier as given
    pretrained: str | None  # tag, checkpoint path, or None
    tag: str | None = None  # the open_clip tag whose preprocessing and QuickGELU apply
    tag_cfg: dict[str, Any] = field(default_factory=dict)  # preprocessing + quick_gelu of a tag
    force_quick_gelu: bool = False

    @property
    def arch(self) -> str:
        """Architecture name with ``-quickgelu`` when the weights need it."""
        if self.force_quick_gelu and not self.model.endswith("-quickgelu"):
            return f"{self.model}-quickgelu"
        return self.model


def _normalise_name(name: str) -> str:
    return name.strip().replace("/", "-")


def resolve_model(
    model: str, pretrained: str | None, checkpoint_tag: str | None = None
) -> ModelSource:
    """Check a model name and pretrained value against open_clip's tables, before any loading.

    Raises :class:`UnknownModelError` for a name or tag open_clip does not know (listing close
    matches), and :class:`ModelUnavailableError` for a checkpoint path that does not exist.
    """
    model = model.strip()
    if not model:
        raise UnknownModelError("no model name given; try the default ViT-L-14-quickgelu")
    if model.startswith("hf-hub:"):
        if not model[len("hf-hub:") :].strip("/"):
            raise UnknownModelError(
                "'hf-hub:' needs a repository, e.g. hf-hub:timm/ViT-B-16-SigLIP"
            )
        return ModelSource("hf-hub", model, None)
    if model.startswith("local-dir:"):
        folder = Path(model[len("local-dir:") :]).expanduser()
        if not (folder / "open_clip_config.json").is_file():
            raise ModelUnavailableError(
                f"{model}: no open_clip_config.json in {folder}; a local-dir: model is a folder "
                "holding open_clip_config.json and its weights (e.g. open_clip_model.safetensors)"
            )
        return ModelSource("local-dir", f"local-dir:{folder.resolve()}", None)

    arch = _normalise_name(model)
    known = open_clip.list_models()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=5, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown open_clip model {model!r}.{hint} `shotseek models` lists them all."
        )
    value = (pretrained or "").strip()
    if not value:
        raise UnknownModelError(
            f"no pretrained weights named for {arch}: give a tag (`shotseek models {arch}`), a "
            "checkpoint file, or 'none' for random weights (benchmarks and tests only)"
        )
    if value.lower() == _RANDOM:
        return ModelSource("random", arch, None)
    if value.lower() == BEST_PRETRAINED:
        arch, value = best_pretrained(arch)

    def tag_source(kind: SourceKind, tag: str, path: str | None) -> ModelSource:
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        arch_quick = bool((open_clip.get_model_config(arch) or {}).get("quick_gelu", False))
        force = bool(cfg.get("quick_gelu", False)) and not arch_quick
        return ModelSource(kind, arch, path or tag, tag, dict(cfg), force)

    tags = open_clip.list_pretrained_tags_by_model(arch)
    if open_clip.get_pretrained_cfg(arch, value):
        return tag_source("tag", value, None)
    path = Path(value).expanduser()
    if path.is_file():
        if checkpoint_tag:
            if not open_clip.get_pretrained_cfg(arch, checkpoint_tag):
                raise UnknownModelError(
                    f"checkpoint tag {checkpoint_tag!r} is not a pretrained tag of {arch}; "
                    f"its tags are: {', '.join(tags) or 'none'}"
                )
            return tag_source("checkpoint", checkpoint_tag, str(path.resolve()))
        return ModelSource("checkpoint", arch, str(path.resolve()))
    if os.sep in value or value.endswith((".pt", ".pth", ".bin", ".safetensors")):
        raise ModelUnavailableError(f"checkpoint file {value} does not exist; check the path")
    raise UnknownModelError(
        f"{value!r} is not a pretrained tag of {arch} nor a checkpoint file; "
        f"its tags are: {', '.join(tags) or 'none (use a checkpoint file or none)'}"
    )


@functools.lru_cache(maxsize=1)
def _retrieval_scores() -> dict[tuple[str, str], float]:
    text = (Path(__file__).parent / "data" / "open_clip_retrieval.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {(r["name"], r["pretrained"]): float(r["average"]) for r in rows}


@functools.lru_cache(maxsize=32)
def best_pretrained(arch: str) -> tuple[str, str]:
    """(architecture, tag) of the model's weights with the best average image-text retrieval
    score in open_clip's results; the ``-quickgelu`` variant counts (weights trained with
    QuickGELU need it). Says on stderr which was chosen."""
    scores = _retrieval_scores()
    variants = [arch, f"{arch}-quickgelu"] if not arch.endswith("-quickgelu") else [arch]
    ranked = sorted(
        (
            (scores[(name, tag)], name, tag)
            for name in variants
            if name in open_clip.list_models()
            for tag in open_clip.list_pretrained_tags_by_model(name)
            if (name, tag) in scores
        ),
        reverse=True,
    )
    if ranked:
        score, name, tag = ranked[0]
        log.warning(
            "%s: using %s/%s, its best weights at image-text retrieval in open_clip's results "
            "(%.3f); --pretrained chooses others (`shotseek models %s`)",
            arch,
            name,
            tag,
            score,
            arch,
        )
        return name, tag
    tags = open_clip.list_pretrained_tags_by_model(arch)
    if not tags:
        raise UnknownModelError(
            f"{arch} has no pretrained weights in open_clip: give a checkpoint file with "
            "--pretrained, or 'none' for random weights (benchmarks and tests only)"
        )
    log.warning(
        "%s: using pretrained %s (no retrieval scores known; --pretrained chooses)", arch, tags[0]
    )
    return arch, tags[0]


def _file_digest(path: Path) -> str:
    """Content hash of a weights file, computed once per file version: readers work out the
    configured model's id on every search, and a checkpoint can weigh gigabytes."""
    stat = path.stat()
    return _digest_of_version(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _digest_of_version(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


def model_id_of(source: ModelSource) -> str:
    """A stable id for the embedding space: equal ids mean comparable vectors."""
    if source.kind == "tag":
        return f"{source.arch}/{source.pretrained}"
    if source.kind == "checkpoint":
        if source.tag:
            return f"{source.arch}/{source.tag}"
        return f"{source.arch}/file-{_file_digest(Path(source.pretrained or ''))}"
    if source.kind == "random":
        return f"{source.arch}/none"
    if source.kind == "local-dir":
        folder = Path(source.model[len("local-dir:") :])
        weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
        digest = _file_digest(weights[0]) if weights else "noweights"
        return f"local-dir:{folder.name}/{digest}"
    return source.model  # hf-hub:org/repo


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, whole (or its type when it has none); a line
    that only announces a list ("Error(s) in loading state_dict for CLIP:") gets the list's
    first line after it (e.g. the missing keys)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[1]}"
    return lines[0]


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached (HF_HUB_OFFLINE, no route, refused, DNS), or
    None when a connection opens: checked once before a download instead of letting every
    file of it retry for a minute."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port} cannot be reached: {exc.strerror or exc}"
    return None


def _cached_weights(tag_cfg: dict, cache_dir: str | None) -> str | None:
    """The tag's weights file if the Hugging Face cache already holds it (no network needed)."""
    hub = tag_cfg.get("hf_hub", "")
    if not hub:
        return None
    from huggingface_hub import try_to_load_from_cache

    repo, filename = os.path.split(hub)
    filename = filename or "open_clip_pytorch_model.bin"
    stem = filename.rsplit(".", 1)[0]
    candidates = (
        [f"{stem}.safetensors", filename] if not filename.endswith(".safetensors") else [filename]
    )
    if stem == "open_clip_pytorch_model":
        candidates.insert(0, "open_clip_model.safetensors")
    for name in candidates:
        found = try_to_load_from_cache(repo_id=repo, filename=name, cache_dir=cache_dir)
        if isinstance(found, str):
            return found
    return None


def _offline_message(source: ModelSource, exc: BaseException) -> str:
    reason = _first_line(exc)
    if source.kind == "hf-hub":
        repo = source.model[len("hf-hub:") :]
        return (
            f"cannot fetch {source.model} from the Hugging Face Hub ({reason}). To work offline, "
            f"run `hf download {repo}` on a machine with network and copy its cache folder "
            "(~/.cache/huggingface/hub) here, or save the repository's files into a folder and "
            "use --model local-dir:/that/folder"
        )
    where = source.tag_cfg.get("hf_hub", "").rstrip("/") or source.tag_cfg.get("url", "")
    return (
        f"cannot fetch the weights of {source.model} (pretrained {source.pretrained!r}) from "
        f"{where or 'the hub'} ({reason}). To work offline, download them on a machine with "
        f"network (`hf download {where}` caches them in ~/.cache/huggingface/hub; copy that "
        f"folder here) or pass the file itself: --model {source.model} --pretrained "
        f"/path/to/open_clip_pytorch_model.bin --checkpoint-tag {source.tag}"
    )


def pick_device(preference: str = "auto") -> torch.device:
    """cuda, then mps, then cpu for 'auto'; an explicit choice must be available."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device 'cuda' was asked for but no CUDA GPU is visible; use --device auto"
        )
    if preference == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise ConfigError(
            "device 'mps' was asked for but Metal is not available; use --device auto"
        )
    return torch.device(preference)


def pick_precision(preference: str, device: torch.device) -> str:
    """open_clip precision name: half precision on a GPU, fp32 on a CPU, unless asked."""
    if preference != "auto":
        return preference
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "mps":
        return "fp16"
    return "fp32"


ImageLike = np.ndarray | Image.Image


class ClipEncoder:
    """A loaded CLIP model: batched, inference-mode encoding to normalised float32 vectors."""

    def __init__(
        self,
        model: torch.nn.Module,
        preprocess: Any,
        tokenizer: Any,
        *,
        model_id: str,
        source: ModelSource,
        device: torch.device,
        precision: str,
        batch_size: int,
        spec: dict[str, str | None] | None = None,
    ) -> None:
        self.model = model.eval()
        #: How to build this encoder again (model, pretrained, checkpoint_tag): stored with
        #: the collection so readers load the model that made it.
        self.spec = spec or {}
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.source = source
        self.device = device
        self.precision = precision
        self.batch_size = batch_size
        self.input_dtype = _input_dtype(model)
        self.dim = int(self._text_batch(["a"]).shape[1])
        #: On a CPU, whole batches go to one worker thread per core, each running the model
        #: (preprocessing included) with one intra-op thread: :meth:`iter_image_batches`.
        self.workers = max(1, torch.get_num_threads()) if device.type == "cpu" else 0
        self._workers = (
            ThreadPoolExecutor(
                max_workers=self.workers,
                thread_name_prefix="shotseek-encoder",
                initializer=torch.set_num_threads,  # per thread: the caller's stays as it is
                initargs=(1,),
            )
            if self.workers
            else None
        )
        #: Elsewhere, a transform that stays on PIL runs on these threads while the model runs.
        self._pool = (
            ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))
            if self._workers is None
            else None
        )
        #: Resize, crop and normalise batches of uint8 frames on the device (a GPU) instead of
        #: one PIL image at a time on the CPU: the same transform, to cosine 0.99999 (tested).
        #: On a CPU, PIL on worker threads is faster (720p frames: 0.40 s against 0.66 s for 32).
        self._tensor_steps = _tensor_steps(preprocess)
        self.preprocess_on_device = self._tensor_steps is not None and device.type != "cpu"

    def __repr__(self) -> str:
        where = f"device={self.device}, {self.precision}"
        return f"ClipEncoder({self.model_id!r}, dim={self.dim}, {where})"

    @property
    def frees_the_caller(self) -> bool:
        """Whether :meth:`iter_image_batches` runs the model on worker threads (a CPU), so that
        the thread iterating it is free to produce the images (decode) meanwhile; on a GPU the
        model runs on the caller's thread."""
        return self._workers is not None and not self.preprocess_on_device

    @property
    def image_size(self) -> int:
        size = getattr(self.model.visual, "image_size", 224)
        return int(size[0] if isinstance(size, (tuple, list)) else size)

    def _prepare(self, image: ImageLike) -> torch.Tensor:
        if isinstance(image, np.ndarray):
            image = Image.fromarray(image)
        return self.preprocess(image.convert("RGB") if image.mode != "RGB" else image)

    @torch.inference_mode()
    def _image_batch(self, pixels: torch.Tensor) -> np.ndarray:
        x = pixels.to(self.device, dtype=self.input_dtype, non_blocking=True)
        feats = self.model.encode_image(x).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def text_overflow(self, text: str) -> str | None:
        """Why the model will not read all of ``text`` (CLIP reads 77 tokens, about 55 words),
        or None when it reads it whole."""
        encode = getattr(self.tokenizer, "encode", None)
        limit = getattr(self.tokenizer, "context_length", None)
        if encode is None or not limit:
            return None
        # the start and end markers take two places
        return overflow_note(lambda t: len(encode(t)) + 2, limit, text)

    @torch.inference_mode()
    def _text_batch(self, texts: Sequence[str]) -> np.ndarray:
        tokens = self.tokenizer(list(texts)).to(self.device)
        feats = self.model.encode_text(tokens).float()
        return torch.nn.functional.normalize(feats, dim=-1).cpu().numpy()

    def _device_pixels(self, images: Sequence[ImageLike]) -> torch.Tensor:
        """The model's input for a batch, made on the device from uint8 frames (runs of frames
        of one size go through the transform together)."""
        resize, crop, normalise = self._tensor_steps  # type: ignore[misc]
        frames = [
            np.asarray(im.convert("RGB") if isinstance(im, Image.Image) else im) for im in images
        ]
        parts, start = [], 0
        for end in range(1, len(frames) + 1):
            if end == len(frames) or frames[end].shape != frames[start].shape:
                batch = torch.from_numpy(np.stack(frames[start:end])).to(self.device)
                parts.append(crop(resize(batch.permute(0, 3, 1, 2))))
                start = end
        pixels = torch.cat(parts).float().div_(255.0)
        return normalise(pixels)

    def iter_image_batches(
        self, images: Iterable[ImageLike], batch_size: int | None = None
    ) -> Iterator[np.ndarray]:
        """Encode a stream of images batch by batch (B × D each, in order).

        On a GPU, each batch runs on this thread (preprocessed on the device, or on PIL threads
        while the batch before runs). On a CPU, each batch goes whole (PIL preprocessing, then
        the model) to one of a worker per core, each on one intra-op thread, while this thread
        goes on taking images from ``images`` (decoding, when indexing): at most one batch more
        than there are workers is in flight, so a worker that finishes finds the next batch
        waiting. Independent single-threaded batches use the cores a little better than one
        model on every core, whose threads meet at each operation's end (ViT-B-32 on 2 cores:
        16.2–18.1 images/s against 15.3–16.8; bench/bench_index.py prints both), and a third
        busy thread (the decoder) then delays one worker instead of stalling both: 10 min of
        720p index in 78–93 s instead of 108 s.
        """
        iterator = iter(images)
        size = batch_size or self.batch_size
        if self.preprocess_on_device:
            while chunk := list(itertools.islice(iterator, size)):
                yield self._image_batch(self._device_pixels(chunk))
            return
        if self._workers is None:
            yield from self._pil_batches_beside_the_model(iterator, size)
            return
        pending: collections.deque[Future[np.ndarray]] = collections.deque()
        try:
            while chunk := list(itertools.islice(iterator, size)):
                pending.append(self._workers.submit(self._encode_chunk, chunk))
                if len(pending) > self.workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # an error, or a consumer that stopped: no batch left running behind
            for future in pending:
                future.cancel()
            wait(pending)

    def _pil_batches_beside_the_model(
        self, iterator: Iterator[ImageLike], size: int
    ) -> Iterator[np.ndarray]:
        """A GPU with a transform kept on PIL: the next batch is preprocessed on threads
        while the model runs on the current one."""
        assert self._pool is not None
        pool = self._pool

        def next_batch() -> list[Future[torch.Tensor]]:
            return [pool.submit(self._prepare, im) for im in itertools.islice(iterator, size)]

        pending = next_batch()
        while pending:
            pixels = torch.stack([f.result() for f in pending])
            pending = next_batch()
            yield self._image_batch(pixels)

    def _encode_chunk(self, chunk: Sequence[ImageLike]) -> np.ndarray:
        return self._image_batch(torch.stack([self._prepare(im) for im in chunk]))

    def encode_images(self, images: Iterable[ImageLike]) -> np.ndarray:
        """N × D float32, rows L2-normalised. On a CPU, fewer images than the workers' batches
        are shared out between them (a Ray actor's 32 rows: 16 for each of 2 workers)."""
        images = list(images)
        share = -(-len(images) // self.workers) if self.workers else self.batch_size
        batches = list(self.iter_image_batches(images, max(1, min(self.batch_size, share))))
        if not batches:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(batches).astype(np.float32, copy=False)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """N × D float32, rows L2-normalised."""
        if isinstance(texts, str):
            raise TypeError("encode_texts takes a list of strings; use encode_text for one")
        out = [
            self._text_batch(texts[i : i + self.batch_size])
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def encode_text(self, text: str) -> np.ndarray:
        """One D-vector, L2-normalised."""
        return self._text_batch([text])[0]

    def encode_query_image(self, image: ImageLike) -> np.ndarray:
        """One image's D-vector, L2-normalised, without the batch machinery of indexing."""
        return self._image_batch(self._prepare(image).unsqueeze(0))[0]


def _tensor_steps(preprocess: Any) -> tuple[Any, Any, Any] | None:
    """open_clip's image transform as (resize, crop, normalise) steps that take uint8 tensor
    batches (torchvision's Resize antialiases tensors as PIL does), when it is the usual
    resize → centre crop → to tensor → normalise; None for any other (kept on PIL)."""
    from torchvision import transforms

    steps = list(getattr(preprocess, "transforms", []))
    kinds = [type(step).__name__ for step in steps]
    if kinds != ["Resize", "CenterCrop", "MaybeConvertMode", "MaybeToTensor", "Normalize"]:
        return None
    resize, crop, _, _, normalise = steps
    if not isinstance(resize, transforms.Resize) or not isinstance(crop, transforms.CenterCrop):
        return None
    return resize, crop, normalise


def _input_dtype(model: torch.nn.Module) -> torch.dtype:
    for module in model.visual.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            return module.weight.dtype
    return torch.float32


def _load_tokenizer(source: ModelSource, cache: str | None) -> Any:
    """The model's tokenizer, or an error that says what to install or fetch.

    Most models use open_clip's own BPE tokenizer (shipped with it). SigLIP, SigLIP 2 (the
    defaults) and the models with a Hugging Face text tower use a tokenizer from the Hugging Face
    Hub, read with ``transformers``: fetched with the weights on first use, from the cache after.
    """
    repo = _hub_tokenizer_repo(source.model)
    unreachable = _hub_unreachable() if repo else None
    try:
        # An unreachable hub: read the cache only, at once, instead of retrying for a minute
        with _hub_offline() if unreachable else contextlib.nullcontext():
            return open_clip.get_tokenizer(source.model, cache_dir=cache)
    except ImportError as exc:
        raise ModelUnavailableError(
            f"{source.model} reads text with a Hugging Face tokenizer, which needs the "
            f"transformers package ({_first_line(exc)}), a dependency of shotseek: `uv sync` "
            "(or `pip install shotseek`) installs it"
        ) from exc
    except Exception as exc:
        reason = f"cannot load the tokenizer of {source.model}: {_first_line(exc).rstrip('.')}"
        if not repo:
            raise ModelUnavailableError(reason) from exc
        where = f" --cache-dir {cache}" if cache else ""
        raise ModelUnavailableError(
            f"{reason}. It comes from the Hugging Face Hub ({repo}): fetch it once where the "
            f"hub can be reached, `uv run hf download {repo} --exclude '*.safetensors' "
            f"--exclude '*.bin'{where}`, and it is read from the cache from then on, offline too"
        ) from exc


def _hub_tokenizer_repo(model: str) -> str | None:
    """The Hugging Face repository the model's tokenizer comes from; None for open_clip's own."""
    if model.startswith("hf-hub:"):
        return model[len("hf-hub:") :].strip("/")
    text_cfg = (open_clip.get_model_config(model) or {}).get("text_cfg", {})
    return text_cfg.get("hf_tokenizer_name") or text_cfg.get("hf_model_name") or None


@contextlib.contextmanager
def _hub_offline() -> Iterator[None]:
    """Hugging Face libraries in offline mode (cache only) for the duration."""
    import huggingface_hub.constants as hub_constants

    before = hub_constants.HF_HUB_OFFLINE
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = before


_INIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _without_random_init() -> Iterator[None]:
    """Build modules without filling their weights with random numbers.

    Only for a model whose every weight is then loaded from a checkpoint, strictly (a missing
    key is an error): the random values would be overwritten anyway, and drawing them is most of
    the time a large model takes to load (ViT-L-14 on 2 cores: 4.3 s of 8.1 s). Buffers that
    constructors compute (attention masks, position tables) are not drawn through
    ``torch.nn.init`` and stay as they are.
    """
    init = torch.nn.init
    names = [n for n in vars(init) if n.endswith("_") and not n.startswith("_")]
    with _INIT_LOCK:
        saved = {n: getattr(init, n) for n in names}
        try:
            for n in names:
                setattr(init, n, _keep)
            yield
        finally:
            for n, fn in saved.items():
                setattr(init, n, fn)


def _keep(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return tensor


def create_encoder(
    model: str,
    pretrained: str | None,
    *,
    checkpoint_tag: str | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int = AUTO_BATCH,
    cache_dir: str | Path | None = None,
) -> ClipEncoder:
    """Build a :class:`ClipEncoder`: the one place where models are created."""
    source = resolve_model(model, pretrained, checkpoint_tag)
    dev = pick_device(device)
    prec = pick_precision(precision, dev)
    cache = str(cache_dir) if cache_dir else None
    kwargs: dict[str, Any] = {"precision": prec, "device": dev, "cache_dir": cache}

    weights: str | None = None
    if source.kind == "tag":
        weights = _cached_weights(source.tag_cfg, cache)
        unreachable = None if weights else _hub_unreachable()
        if unreachable:
            raise ModelUnavailableError(_offline_message(source, RuntimeError(unreachable)))
        try:
            weights = weights or open_clip.download_pretrained(source.tag_cfg, cache_dir=cache)
        except Exception as exc:  # network, hub, disk: all mean "not here"
            raise ModelUnavailableError(_offline_message(source, exc)) from exc
        if not weights:
            raise ModelUnavailableError(
                _offline_message(source, RuntimeError("no download source"))
            )
    elif source.kind == "checkpoint":
        weights = source.pretrained
    elif source.kind == "hf-hub" and not _cached_weights(
        {"hf_hub": f"{source.model[len('hf-hub:') :].strip('/')}/open_clip_config.json"}, cache
    ):
        unreachable = _hub_unreachable()
        if unreachable:
            raise ModelUnavailableError(_offline_message(source, RuntimeError(unreachable)))
    if source.tag_cfg:
        kwargs.update(
            force_quick_gelu=source.force_quick_gelu,
            image_mean=source.tag_cfg.get("mean"),
            image_std=source.tag_cfg.get("std"),
            image_interpolation=source.tag_cfg.get("interpolation"),
            image_resize_mode=source.tag_cfg.get("resize_mode"),
        )
    name = source.model  # QuickGELU, where a tag needs it, is forced explicitly above
    tokenizer = _load_tokenizer(source, cache)  # first: a missing one must not cost a model load
    # Every weight comes from a file that open_clip loads strictly (required: a model built
    # without random init must never run half-loaded); big_vision .npz files are filled
    # their own way, so they keep the usual init.
    from_file = source.kind != "random" and not str(weights or "").endswith((".npz", ".npy"))
    if from_file:
        kwargs["require_pretrained"] = True
    try:
        with (
            torch.random.fork_rng(devices=[]),
            _without_random_init() if from_file else contextlib.nullcontext(),
        ):
            torch.manual_seed(_RANDOM_SEED)
            clip, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=weights, **kwargs
            )
    except (ModelUnavailableError, UnknownModelError):
        raise
    except Exception as exc:
        if source.kind == "hf-hub":
            raise ModelUnavailableError(_offline_message(source, exc)) from exc
        what = weights or source.model
        raise ModelUnavailableError(
            f"cannot load {source.model} from {what}: {_first_line(exc)}. "
            "Check that the weights belong to this architecture (--model) and are not damaged"
        ) from exc
    model_id = model_id_of(source)
    if source.kind == "random":
        log.warning(
            "%s uses RANDOM weights: fine for speed and plumbing, useless for search", model_id
        )
    encoder = ClipEncoder(
        clip,
        preprocess,
        tokenizer,
        model_id=model_id,
        source=source,
        device=dev,
        precision=prec,
        batch_size=batch_size or CPU_BATCH,
        spec={"model": model, "pretrained": pretrained, "checkpoint_tag": checkpoint_tag},
    )
    if batch_size == AUTO_BATCH and dev.type == "cuda":
        encoder.batch_size = _batch_by_memory(encoder)
    elif batch_size == AUTO_BATCH and encoder.workers:
        encoder.batch_size = max(CPU_WORKER_BATCH_MIN, CPU_BATCH // encoder.workers)
    log.info("loaded %r, batches of %d", encoder, encoder.batch_size)
    return encoder


def batch_for_memory(free_bytes: float, per_image_bytes: float) -> int:
    """The largest power of two of images whose activations fit in GPU_MEMORY_SHARE of the
    free memory, between 1 and GPU_BATCH_MAX."""
    fits = int(free_bytes * GPU_MEMORY_SHARE // max(per_image_bytes, 1.0))
    return max(1, min(GPU_BATCH_MAX, 1 << max(0, fits.bit_length() - 1)))


def _batch_by_memory(encoder: ClipEncoder) -> int:
    """Measure what a batch of BATCH_PROBE images takes on the GPU, and size batches by it."""
    device = encoder.device
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    size = encoder.image_size
    probe = torch.zeros(BATCH_PROBE, 3, size, size, device=device, dtype=encoder.input_dtype)
    with torch.inference_mode():
        encoder.model.encode_image(probe)
    torch.cuda.synchronize(device)
    per_image = (torch.cuda.max_memory_allocated(device) - before) / BATCH_PROBE
    del probe
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    batch = batch_for_memory(free, per_image)
    log.info(
        "%.1f MB per image on the GPU, %.1f GB free: batches of %d",
        per_image / 1e6,
        free / 1e9,
        batch,
    )
    return batch


def list_pretrained() -> list[tuple[str, str]]:
    """Every (model, pretrained tag) pair in open_clip's table."""
    return [(m, t) for m, t in open_clip.list_pretrained()]


def device_default(settings: Settings) -> Settings:
    """The settings with model 'auto' replaced by the default of the device the encoder will
    run on (config: DEFAULT_MODEL on a GPU, CPU_MODEL on a CPU); other settings as they are.
    The store's own model, which 'auto' prefers, is worked out by the catalog."""
    if settings.model != AUTO_MODEL:
        return settings
    on_cpu = pick_device(settings.device).type == "cpu"
    model, weights = (CPU_MODEL, CPU_PRETRAINED) if on_cpu else (DEFAULT_MODEL, DEFAULT_PRETRAINED)
    return settings.model_copy(update={"model": model, "pretrained": weights})


def configured_model_id(settings: Settings) -> str | None:
    """The model id the settings name, worked out without loading the model (None if invalid)."""
    settings = device_default(settings)
    try:
        return model_id_of(
            resolve_model(settings.model, settings.pretrained, settings.checkpoint_tag)
        )
    except (UnknownModelError, ModelUnavailableError, OSError):
        return None


_CACHE: dict[tuple, ClipEncoder] = {}
_CACHE_LOCK = threading.Lock()


def loaded_encoders() -> list[ClipEncoder]:
    """The encoders this process has loaded so far."""
    with _CACHE_LOCK:
        return list(_CACHE.values())


def get_encoder(settings: Settings) -> ClipEncoder:
    """The process-wide encoder for these settings, loaded on first use."""
    settings = device_default(settings)
    key = (
        settings.model,
        settings.pretrained,
        settings.checkpoint_tag,
        settings.device,
        settings.precision,
        settings.batch_size,
        str(settings.model_cache_dir),
    )
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = create_encoder(
                settings.model,
                settings.pretrained,
                checkpoint_tag=settings.checkpoint_tag,
                device=settings.device,
                precision=settings.precision,
                batch_size=settings.batch_size,
                cache_dir=settings.model_cache_dir,
            )
        return _CACHE[key]
