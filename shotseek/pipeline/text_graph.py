"""Text queries without torch: the model's text tower as an ONNX graph, run by onnxruntime.

A text search needs one vector from the text tower, yet loading torch and open_clip to get it
costs most of a command's time (6-10 s on 2 cores, against ~0.1 s to run the tower). So a
process that has the model loaded anyway (an index run, a first search) writes the text tower
once per model as an ONNX graph, with the model's tokenizer as a ``tokenizers`` file, into
``<data_dir>/text-graphs``; later commands answer text queries with onnxruntime and tokenizers
alone. A graph is written only after it is checked against the model on :data:`CHECK_TEXTS`:
the same tokens, and vectors within cosine :data:`~shotseek.pipeline.config.TEXT_GRAPH_MIN_COSINE`.
A model whose tokenizer or tower cannot be reproduced gets a marker that says why, and its
queries keep loading the model. Image queries always use the model (pipeline/encoder.py).

This module is the only one that imports onnxruntime and tokenizers; it imports torch only to
write a graph.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import json
import logging
import os
import re
import shutil
import string
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shotseek.pipeline.config import TEXT_GRAPH_MIN_COSINE, Settings
from shotseek.pipeline.tokens import overflow_note

if TYPE_CHECKING:
    from shotseek.pipeline.encoder import ClipEncoder

log = logging.getLogger(__name__)

#: Bumped when what is written changes; a graph of another format is written again.
FORMAT = 1

#: Texts a graph must reproduce exactly (tokens) and closely (vectors) before it is kept:
#: case, punctuation, digits, accents and other scripts, HTML entities, odd spacing, a query
#: longer than any model reads, and one that cleans to nothing.
CHECK_TEXTS = (
    "a photo of a dog",
    "Two people TALKING at a kitchen table, night.",
    "the 1969 moon landing; Apollo 11's crew",
    "  a   red\tcar\n on a  wet road  ",
    "café crème & croissant &amp; l'été à Paris",
    "東京の夜景 — Tokyo at night 🌃",
    "don't we've they'll I'm she'd it's",
    "<start_of_text> an aerial shot of a river delta <end_of_text>",
    "!!!",
    " ".join(["a long slow tracking shot across a crowded market at dawn"] * 12),
)


def _basic_clean(text: str) -> str:
    import ftfy

    return html.unescape(html.unescape(ftfy.fix_text(text))).strip()


def _whitespace(text: str) -> str:
    return " ".join(text.split()).strip()


_PUNCTUATION = str.maketrans("", "", string.punctuation)

#: open_clip's text cleaning (open_clip/tokenizer.py, MIT), by the name open_clip gives it:
#: copied so that a query is cleaned without importing open_clip (and torch). The checks on
#: CHECK_TEXTS fail, and no graph is kept, if open_clip's cleaning ever differs.
CLEANERS: dict[str, Callable[[str], str]] = {
    "lower": lambda t: _whitespace(_basic_clean(t)).lower(),
    "whitespace": lambda t: _whitespace(_basic_clean(t)),
    "canonicalize": lambda t: _whitespace(
        _basic_clean(t).replace("_", " ").translate(_PUNCTUATION).lower()
    ),
}


def graph_dir(settings: Settings, model_id: str) -> Path:
    """The folder of one model's text graph."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-")[:60]
    digest = hashlib.sha256(model_id.encode()).hexdigest()[:12]
    return settings.text_graph_dir / f"{slug}-{digest}"


def _versions() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "open_clip": version("open_clip_torch"),
        "onnxruntime": version("onnxruntime"),
    }


class GraphTokenizer:
    """The model's tokenizer as written with its graph: cleans, cuts and pads as open_clip's
    does, with ``tokenizers`` alone."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        from tokenizers import Tokenizer

        self.context_length: int = meta["context_length"]
        self._clean = CLEANERS[meta["clean"]]
        self._sep: int | None = meta.get("strip_sep")
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._whole: Any = None  # the same without cutting, made when a query is too long

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """N × context_length int64 token ids, as the model's tokenizer makes them."""
        encoded = self._tokenizer.encode_batch([self._clean(t) for t in texts])
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        if self._sep is not None:
            ids[ids == self._sep] = 0
        return ids

    def overflow(self, text: str) -> str | None:
        """Why the model will not read all of ``text``, or None when it reads it whole."""
        if not self._tokenizer.encode(self._clean(text)).overflowing:
            return None
        if self._whole is None:
            from tokenizers import Tokenizer

            self._whole = Tokenizer.from_str(self._tokenizer.to_str())
            self._whole.no_truncation()
            self._whole.no_padding()
        whole = self._whole
        return overflow_note(
            lambda t: len(whole.encode(self._clean(t)).ids), self.context_length, text
        )


class TextGraph:
    """A model's text tower and tokenizer without torch: :meth:`encode_text` gives the vector the
    model gives (L2-normalised float32), :meth:`text_overflow` says when a query is cut."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        import onnxruntime

        self.folder = folder
        self.model_id: str = meta["model_id"]
        self.dim: int = meta["dim"]
        self.tokenizer = GraphTokenizer(folder, meta)
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: nothing on stdout or stderr otherwise
        self._session = onnxruntime.InferenceSession(
            str(folder / "text.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def __repr__(self) -> str:
        return f"TextGraph({self.model_id!r}, dim={self.dim})"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """N × D float32, rows L2-normalised."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        (vectors,) = self._session.run(None, {"tokens": self.tokenizer(texts)})
        return np.asarray(vectors, dtype=np.float32)

    def encode_text(self, text: str) -> np.ndarray:
        """One D-vector, L2-normalised."""
        return self.encode_texts([text])[0]

    def text_overflow(self, text: str) -> str | None:
        """Why the model will not read all of ``text``, or None when it reads it whole."""
        return self.tokenizer.overflow(text)


_OPEN: dict[tuple[Path, int], TextGraph] = {}
_OPEN_LOCK = threading.Lock()


def open_text_graph(settings: Settings, model_id: str) -> TextGraph | None:
    """The model's text graph, or None when there is none (not written yet, written by another
    version, or the model cannot have one): the caller then loads the model. Opened once per
    process (a server's searches share it) until it is written again."""
    folder = graph_dir(settings, model_id)
    try:
        written = (folder / "meta.json").stat().st_mtime_ns
    except OSError:
        return None
    with _OPEN_LOCK:
        if (folder, written) in _OPEN:
            return _OPEN[folder, written]
    meta = _current_meta(folder, model_id)
    if meta is None:
        return None
    if meta.get("unsupported"):
        log.debug("no text graph for %s: %s", model_id, meta["unsupported"])
        return None
    try:
        graph = TextGraph(folder, meta)
    except Exception as exc:  # a damaged folder: the model answers, and a later run rewrites it
        log.warning("cannot read the text graph in %s (%s); loading the model", folder, exc)
        return None
    with _OPEN_LOCK:
        return _OPEN.setdefault((folder, written), graph)


def has_text_graph(settings: Settings, model_id: str) -> bool:
    """Whether a text graph (or the marker that the model cannot have one) is written and
    current, so that :func:`write_text_graph` has nothing to do."""
    return _current_meta(graph_dir(settings, model_id), model_id) is not None


def _current_meta(folder: Path, model_id: str) -> dict[str, Any] | None:
    """The folder's meta when it is this model's and of these versions; else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    current = meta.get("versions") == _versions() and meta.get("model_id") == model_id
    return meta if current else None


def write_text_graph(encoder: ClipEncoder, settings: Settings) -> Path | None:
    """Write the encoder's text tower and tokenizer for :func:`open_text_graph`, checked against
    the encoder on :data:`CHECK_TEXTS`; returns the folder, or None when the model cannot have
    one (a marker then says why, so the next run does not try again). Safe when several
    processes write at once: each writes a folder of its own and the first to finish wins."""
    folder = graph_dir(settings, encoder.model_id)
    if has_text_graph(settings, encoder.model_id):
        return folder if (folder / "text.onnx").exists() else None
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(folder.parent)
    work = Path(tempfile.mkdtemp(prefix=_WRITING, dir=folder.parent))
    meta: dict[str, Any] = {"model_id": encoder.model_id, "versions": _versions()}
    try:
        try:
            meta.update(_export(encoder, work))
            graph = TextGraph(work, meta)
            _check(graph, encoder)
            del graph  # let go of its files before the folder moves
        except _Unsupported as exc:
            for item in list(work.iterdir()):
                item.unlink()
            meta["unsupported"] = str(exc)
            log.info("text queries of %s will load the model: %s", encoder.model_id, exc)
        (work / "meta.json").write_text(json.dumps(meta, indent=1))
        if not has_text_graph(settings, encoder.model_id):  # else another process was first
            shutil.rmtree(folder, ignore_errors=True)  # stale: another format or version
            with contextlib.suppress(OSError):  # another process got there meanwhile
                os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None if meta.get("unsupported") else folder


_WRITING = ".writing-"


def _remove_abandoned(parent: Path, older_than: float = 3600.0) -> None:
    """Remove what a writer killed mid-way left (a writer takes a minute at most)."""
    now = time.time()
    for item in parent.glob(f"{_WRITING}*"):
        with contextlib.suppress(OSError):
            if now - item.stat().st_mtime > older_than:
                shutil.rmtree(item)


class _Unsupported(Exception):
    """The model's text side cannot be reproduced without torch (the message says why)."""


def _export(encoder: ClipEncoder, folder: Path) -> dict[str, Any]:
    """Write ``tokenizer.json`` and ``text.onnx`` (+ its weights) into ``folder``; the meta."""
    meta = _export_tokenizer(encoder.tokenizer, folder)
    import torch

    class TextTower(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            features = self.model.encode_text(tokens).float()
            return torch.nn.functional.normalize(features, dim=-1)

    tokens = encoder.tokenizer(list(CHECK_TEXTS[:2])).to(encoder.device)
    batch = torch.export.Dim("batch", min=1, max=4096)
    try:
        # The exporter reports its steps on stdout and warns freely: neither may reach a user
        with (
            contextlib.redirect_stdout(io.StringIO()),
            warnings.catch_warnings(),
            torch.inference_mode(False),
            torch.no_grad(),
        ):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                TextTower(encoder.model).float().cpu().eval(),
                (tokens.cpu(),),
                str(folder / "text.onnx"),
                input_names=["tokens"],
                output_names=["vectors"],
                dynamic_shapes={"tokens": {0: batch}},
                dynamo=True,
                external_data=True,
                verbose=False,
            )
    except Exception as exc:
        raise _Unsupported(f"its text tower does not export to ONNX ({exc})") from exc
    finally:
        encoder.model.to(encoder.device)
    meta["dim"] = encoder.dim
    return meta


def _export_tokenizer(tokenizer: Any, folder: Path) -> dict[str, Any]:
    """Write the model's tokenizer as a ``tokenizers`` file that pads and cuts as it does."""
    from open_clip import tokenizer as oct

    clean = next(
        (name for name in CLEANERS if oct.get_clean_fn(name) is getattr(tokenizer, "clean_fn", 0)),
        None,
    )
    length = int(getattr(tokenizer, "context_length", 0) or 0)
    if not length:
        raise _Unsupported(f"its tokenizer ({type(tokenizer).__name__}) has no fixed length")
    meta: dict[str, Any] = {"context_length": length, "clean": clean}
    if isinstance(tokenizer, oct.SimpleTokenizer):
        if tokenizer.reduction_fn is not None:
            raise _Unsupported("its tokenizer drops words by a reduction mask")
        fast = _bpe_tokenizer(tokenizer)
        fast.enable_truncation(max_length=length)
        fast.enable_padding(length=length, pad_id=0, pad_token="!")
    elif isinstance(tokenizer, (oct.HFTokenizer, oct.SigLipTokenizer)):
        hf = tokenizer.tokenizer
        if getattr(tokenizer, "tokenizer_mode", "") or not getattr(hf, "is_fast", False):
            raise _Unsupported("its Hugging Face tokenizer has no tokenizers form")
        from tokenizers import Tokenizer

        fast = Tokenizer.from_str(hf.backend_tokenizer.to_str())
        fast.enable_truncation(max_length=length, direction=hf.truncation_side)
        fast.enable_padding(
            length=length,
            direction=hf.padding_side,
            pad_id=hf.pad_token_id,
            pad_token=hf.pad_token or "",
        )
        if isinstance(tokenizer, oct.SigLipTokenizer):
            meta["clean"] = "canonicalize"
        if getattr(tokenizer, "strip_sep_token", False):
            meta["strip_sep"] = hf.sep_token_id
    else:
        raise _Unsupported(f"its tokenizer ({type(tokenizer).__name__}) is not one shotseek reads")
    if meta["clean"] is None:
        raise _Unsupported("its tokenizer cleans text in a way shotseek does not know")
    fast.save(str(folder / "tokenizer.json"))
    return meta


def _bpe_tokenizer(tokenizer: Any) -> Any:
    """open_clip's own byte-level BPE (SimpleTokenizer) as a ``tokenizers`` tokenizer."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

    merges = [pair for pair, _ in sorted(tokenizer.bpe_ranks.items(), key=lambda kv: kv[1])]
    fast = Tokenizer(
        models.BPE(
            vocab=dict(tokenizer.encoder),
            merges=merges,
            end_of_word_suffix="</w>",
            continuing_subword_prefix="",
            fuse_unk=False,
        )
    )
    specials = [tokenizer.decoder[i] for i in tokenizer.all_special_ids]
    fast.add_special_tokens(specials)
    pattern = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
    fast.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="removed", invert=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    sot, eot = specials[0], specials[1]
    fast.post_processor = processors.TemplateProcessing(
        single=f"{sot} $A {eot}",
        special_tokens=[(sot, tokenizer.sot_token_id), (eot, tokenizer.eot_token_id)],
    )
    return fast


def _check(graph: TextGraph, encoder: ClipEncoder) -> None:
    """Raise :class:`_Unsupported` unless the graph gives the encoder's tokens and vectors."""
    texts = list(CHECK_TEXTS)
    want = encoder.tokenizer(texts).cpu().numpy()
    got = graph.tokenizer(texts)
    if got.shape != want.shape or not np.array_equal(got, want):
        bad = next(t for t, g, w in zip(texts, got, want, strict=False) if not np.array_equal(g, w))
        raise _Unsupported(f"its tokenizer could not be reproduced (it differs on {bad!r})")
    cosine = np.sum(graph.encode_texts(texts) * encoder.encode_texts(texts), axis=1)
    if float(cosine.min()) < TEXT_GRAPH_MIN_COSINE:
        raise _Unsupported(
            f"its ONNX text tower differs from the model (cosine {float(cosine.min()):.5f})"
        )
