"""Text queries without torch: the text graph gives the model's tokens and vectors, is written
once, falls back to the model when missing, damaged or stale, and a CLI search then imports no
torch (tiny CLIP fixture; a hand-made Hugging Face tokenizer for that kind)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from shotseek.pipeline import text_graph
from shotseek.pipeline.catalog import reader_encoder, reader_model
from shotseek.pipeline.config import TEXT_GRAPH_MIN_COSINE, Settings
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import refine, search
from shotseek.pipeline.text_graph import (
    CHECK_TEXTS,
    GraphTokenizer,
    graph_dir,
    has_text_graph,
    open_text_graph,
    write_text_graph,
)
from tests.kit.archive import TINY_CLIP, cli_env, indexed_store
from tests.kit.footage import standard_footage

MORE_TEXTS = [
    "A RED CIRCLE",
    "a blue square on a green field",
    "naïve résumé — 100% über",
    "tab\tseparated\nlines",
    "",
    "x" * 400,
]


@pytest.fixture(scope="module")
def written(tiny_encoder, tmp_path_factory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("graphs"), model=TINY_CLIP)
    folder = write_text_graph(tiny_encoder, settings)
    assert folder is not None and folder == graph_dir(settings, tiny_encoder.model_id)
    return settings


def test_the_graph_gives_the_models_tokens_and_vectors(written, tiny_encoder):
    graph = open_text_graph(written, tiny_encoder.model_id)
    assert graph is not None and graph.dim == tiny_encoder.dim
    texts = [*CHECK_TEXTS, *MORE_TEXTS]
    want = tiny_encoder.tokenizer(texts).numpy()
    assert np.array_equal(graph.tokenizer(texts), want)
    cosine = np.sum(graph.encode_texts(texts) * tiny_encoder.encode_texts(texts), axis=1)
    assert cosine.min() >= TEXT_GRAPH_MIN_COSINE
    vector = graph.encode_text("a red circle")
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_a_long_query_gets_the_models_note(written, tiny_encoder):
    graph = open_text_graph(written, tiny_encoder.model_id)
    long = " ".join(f"word{i} and a red circle" for i in range(30))
    note = graph.text_overflow(long)
    assert note is not None and note == tiny_encoder.text_overflow(long)
    assert "reads only 32" in note
    assert graph.text_overflow("a red circle") is None


def test_written_once_and_what_a_killed_writer_left_is_removed(written, tiny_encoder, monkeypatch):
    def no_export(*_args):
        raise AssertionError("a written graph was exported again")

    monkeypatch.setattr(text_graph, "_export", no_export)
    assert has_text_graph(written, tiny_encoder.model_id)
    assert write_text_graph(tiny_encoder, written) == graph_dir(written, tiny_encoder.model_id)
    monkeypatch.undo()

    left = written.text_graph_dir / ".writing-killed"
    left.mkdir()
    (left / "text.onnx.data").write_bytes(b"half")
    os.utime(left, (time.time() - 7200, time.time() - 7200))
    fresh = written.text_graph_dir / ".writing-busy"  # another process writing now
    fresh.mkdir()
    odd = copy.copy(tiny_encoder)
    odd.model_id = "another/model"
    odd.tokenizer = None  # no tokenizer it can reproduce: marked, quickly
    assert write_text_graph(odd, written) is None
    assert not left.exists() and fresh.exists()


def test_a_tokenizer_it_cannot_reproduce_is_marked_and_not_tried_again(tiny_encoder, tmp_path):
    from open_clip.tokenizer import SimpleTokenizer

    odd = copy.copy(tiny_encoder)
    odd.tokenizer = SimpleTokenizer(context_length=32, reduction_mask="simple")
    settings = Settings(data_dir=tmp_path)
    assert write_text_graph(odd, settings) is None
    meta = json.loads((graph_dir(settings, odd.model_id) / "meta.json").read_text())
    assert "reduction mask" in meta["unsupported"]
    assert has_text_graph(settings, odd.model_id)  # nothing left to try
    assert open_text_graph(settings, odd.model_id) is None
    assert not (graph_dir(settings, odd.model_id) / "text.onnx").exists()


def test_a_damaged_or_stale_graph_is_not_used(tiny_encoder, tmp_path, caplog):
    settings = Settings(data_dir=tmp_path)
    folder = write_text_graph(tiny_encoder, settings)
    weights = folder / "text.onnx.data"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert open_text_graph(settings, tiny_encoder.model_id) is None
    assert "cannot read the text graph" in caplog.text

    meta_file = folder / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["versions"]["open_clip"] = "0.0.1"
    meta_file.write_text(json.dumps(meta))
    assert open_text_graph(settings, tiny_encoder.model_id) is None
    assert not has_text_graph(settings, tiny_encoder.model_id)
    assert write_text_graph(tiny_encoder, settings) == folder  # written again, whole
    assert open_text_graph(settings, tiny_encoder.model_id) is not None


def test_a_hugging_face_tokenizer_is_reproduced(tmp_path):
    from open_clip.tokenizer import HFTokenizer
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = "a red blue circle square on the green field of photo".split()
    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3} | {
        w: i + 4 for i, w in enumerate(words)
    }
    fast = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    fast.pre_tokenizer = pre_tokenizers.Whitespace()
    fast.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    PreTrainedTokenizerFast(
        tokenizer_object=fast,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
    ).save_pretrained(tmp_path / "hf")
    texts = [*CHECK_TEXTS, *MORE_TEXTS, "A Photo, of the GREEN field!"]
    for clean in ("lower", "whitespace", "canonicalize"):
        for strip_sep in (False, True):
            hf = HFTokenizer(
                str(tmp_path / "hf"), context_length=8, clean=clean, strip_sep_token=strip_sep
            )
            folder = tmp_path / f"{clean}-{strip_sep}"
            folder.mkdir()
            meta = text_graph._export_tokenizer(hf, folder)
            assert np.array_equal(GraphTokenizer(folder, meta)(texts), hf(texts).numpy())


def test_refining_by_shots_alone_loads_no_model(tmp_path, monkeypatch):
    standard_footage(tmp_path / "media" / "standard.mp4")
    settings, store = indexed_store(tmp_path / "media", tmp_path / "data")
    try:
        first = search(settings, store, SearchQuery(text="a red circle", limit=3))

        def no_model(*_args, **_kwargs):
            raise AssertionError("a refinement by shots alone loaded the model")

        monkeypatch.setattr("shotseek.pipeline.search.reader_encoder", no_model)
        refined = refine(settings, store, first.search_id, positive=[first.hits[0].shot.shot_id])
        assert refined.hits
        # with the graph, a text query uses it (and not the model)
        on = settings.model_copy(update={"text_graph": True})
        write_text_graph(reader_encoder(settings, reader_model(store, settings)), on)
        monkeypatch.undo()
        model = reader_model(store, on)
        assert type(reader_encoder(on, model, text_only=True)).__name__ == "TextGraph"
        assert type(reader_encoder(on, model)).__name__ == "ClipEncoder"
    finally:
        store.close()


def _shotseek(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "shotseek", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _imported(stderr: str) -> set[str]:
    return {
        line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if "import time:" in line
    }


def test_a_cli_text_search_after_indexing_imports_no_torch(tmp_path):
    standard_footage(tmp_path / "media" / "standard.mp4")
    env = cli_env(tmp_path / "data", text_graph="1")
    indexed = _shotseek("index", str(tmp_path / "media"), "--json", env=env)
    assert indexed.returncode == 0, indexed.stderr[-3000:]
    assert "keeping the text tower" in indexed.stderr
    assert list((tmp_path / "data" / "text-graphs").glob("*/text.onnx"))

    quick = _shotseek("search", "a red circle", "--json", env=env)
    assert quick.returncode == 0, quick.stderr[-3000:]
    assert "torch" not in _imported(quick.stderr) and "open_clip" not in _imported(quick.stderr)
    full = _shotseek("search", "a red circle", "--json", env={**env, "SHOTSEEK_TEXT_GRAPH": "0"})
    assert full.returncode == 0, full.stderr[-3000:]
    assert "torch" in _imported(full.stderr)
    hits = [json.loads(p.stdout)["hits"] for p in (quick, full)]
    assert [h["shot"]["shot_id"] for h in hits[0]] == [h["shot"]["shot_id"] for h in hits[1]]
    assert np.allclose([h["score"] for h in hits[0]], [h["score"] for h in hits[1]], atol=1e-4)
