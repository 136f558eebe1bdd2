"""VLM enrichment against a stand-in Ollama (tests/kit/ollama_standin.py) through the real
``ollama`` client: captions parsed, stored and never asked twice; judgements, reranking and
their cache; one image per request; every failure said with its fix."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shotseek.pipeline.captions import CaptionAnswer, Vlm, caption_shots, judge_hits, shot_image
from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import VlmUnavailableError
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import refine, search
from shotseek.pipeline.store import ShotStore
from tests.conftest import TINY_CLIP
from tests.kit.archive import indexed_store
from tests.kit.footage import Scene, make_footage
from tests.kit.ollama_standin import OllamaStandIn


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """One indexed video of red, blue and green shapes."""
    root = tmp_path_factory.mktemp("vlm")
    make_footage(
        root / "media" / "colours.mp4",
        [
            Scene("red", "circle", 3.0),
            Scene("blue", "square", 3.0),
            Scene("green", "triangle", 3.0),
            Scene("red", "square", 3.0),
            Scene("blue", "circle", 3.0),
        ],
    )
    settings, store = indexed_store(root / "media", root / "data")
    yield settings, store
    store.close()


@pytest.fixture
def ollama():
    standin = OllamaStandIn()
    url = standin.start()
    yield standin, url
    standin.stop()


def _shots(store: ShotStore, settings: Settings):
    [video] = store.list_videos(next(iter(store.models())))
    return video.model_id, store.shots_of(video.model_id, video.video_id)


def test_captions_are_parsed_stored_searchable_and_never_asked_twice(archive, ollama):
    settings, store = archive
    standin, url = ollama
    settings = settings.merged(ollama_url=url)
    model_id, shots = _shots(store, settings)
    ids = [s.shot_id for s in shots]

    first = caption_shots(settings, store, model_id, ids)
    assert len(standin.chats) == len(ids)
    assert all(c.caption and not c.cached and c.error is None for c in first)
    assert first[0].by == "qwen2.5vl:7b caption-v1"
    assert "red shape" in first[0].caption  # the first scene is red

    again = caption_shots(settings, store, model_id, ids)
    assert len(standin.chats) == len(ids)  # no new request
    assert [c.caption for c in again] == [c.caption for c in first]
    assert all(c.cached for c in again)

    found = store.query(model_id, text="blue", limit=20)
    blue = {c.shot_id for c in first if "blue" in c.caption}
    assert blue and {s.shot_id for s, _ in found} == blue


def test_caption_and_hybrid_search_rank_generated_footage_sensibly(archive, ollama):
    settings, store = archive
    standin, url = ollama
    settings = settings.merged(ollama_url=url)
    model_id, shots = _shots(store, settings)
    captions = caption_shots(settings, store, model_id, [s.shot_id for s in shots])
    green = {c.shot_id for c in captions if "green" in (c.caption or "")}
    assert green
    by_words = search(settings, store, SearchQuery(text="green", mode="caption", limit=3))
    assert {h.shot.shot_id for h in by_words.hits} == green
    assert "caption mode" in by_words.note and by_words.no_good_match is None
    fused = search(settings, store, SearchQuery(text="a green triangle", mode="hybrid", limit=3))
    assert fused.hits[0].shot.shot_id in green  # both rankings put it first
    assert all(h.caption for h in fused.hits)


def test_one_image_per_request_sized_for_the_model(archive, ollama):
    settings, store = archive
    standin, url = ollama
    settings = settings.merged(ollama_url=url, vlm_frames=4, vlm_image_side=448)
    model_id, shots = _shots(store, settings)
    vlm = Vlm(settings)
    caption_shots(settings, store, model_id, [shots[0].shot_id], vlm=vlm)  # cached: no request
    image = shot_image(shots[0], settings)
    vlm.ask("caption this", image, CaptionAnswer)
    [chat] = standin.chats[-1:]
    assert len(chat.images) == 1
    width, height = Image.open(io.BytesIO(chat.images[0])).size
    assert max(width, height) == 448 and width % 28 == 0 and height % 28 == 0
    assert chat.options["temperature"] == 0
    assert chat.options["num_ctx"] >= (width // 28) * (height // 28) + 1024
    assert chat.format["properties"].keys() >= {"caption", "objects"}
    assert chat.think is None  # a model without thinking is not sent think at all
    assert chat.keep_alive == settings.vlm_keep_alive


def test_a_thinking_model_is_told_not_to_think(archive, ollama):
    settings, store = archive
    standin, url = ollama
    standin.models["qwen3-vl:8b"] = ["completion", "vision", "thinking"]
    settings = settings.merged(ollama_url=url, vlm_model="qwen3-vl:8b")
    model_id, shots = _shots(store, settings)
    caption_shots(settings, store, model_id, [shots[1].shot_id])
    assert standin.chats[-1].think is False


def test_rerank_puts_what_the_vlm_sees_first_and_a_repeat_asks_nothing(archive, ollama):
    settings, store = archive
    standin, url = ollama
    settings = settings.merged(ollama_url=url)
    result = search(settings, store, SearchQuery(text="a red square", limit=5))
    reranked = judge_hits(settings, result, 5, rerank=True)
    asked = len(standin.chats)
    assert asked == 5
    verdicts = [h.match for h in reranked.hits]
    assert verdicts == sorted(verdicts, reverse=True) and any(verdicts)
    assert [h.rank for h in reranked.hits] == [1, 2, 3, 4, 5]
    assert all(h.explanation and h.judged_by == "qwen2.5vl:7b judge-v1" for h in reranked.hits)
    for hit in reranked.hits:
        assert ("red" in hit.explanation) == bool(hit.match)
    assert {h.shot.shot_id for h in reranked.hits} == {h.shot.shot_id for h in result.hits}
    again = judge_hits(settings, result, 5, rerank=True)
    assert len(standin.chats) == asked  # judgements are cached per query, shot, model, prompt
    assert [h.shot.shot_id for h in again.hits] == [h.shot.shot_id for h in reranked.hits]
    asked = len(standin.chats)
    ranked = search(settings, store, SearchQuery(text="a red square", limit=5, rerank=5))
    assert len(standin.chats) == asked  # the search's own rerank reads the same judgements
    assert [h.shot.shot_id for h in ranked.hits] == [h.shot.shot_id for h in reranked.hits]
    liked = [ranked.hits[0].shot.shot_id]
    refined = refine(settings, store, ranked.search_id, positive=liked)
    assert len(standin.chats) == asked  # a refinement judges only when asked to
    assert refined.query.rerank == 0 and not any(h.judged_by for h in refined.hits)
    judged = refine(settings, store, ranked.search_id, positive=liked, rerank=5)
    assert judged.query.rerank == 5 and all(h.judged_by for h in judged.hits)
    explained = judge_hits(settings, result, 2, rerank=False)  # explain: order kept
    assert [h.shot.shot_id for h in explained.hits] == [h.shot.shot_id for h in result.hits]
    assert [h.explanation is not None for h in explained.hits] == [True, True, False, False, False]


def test_an_answer_that_is_not_json_is_asked_again_once_then_reported(archive, ollama):
    settings, store = archive
    standin, url = ollama
    settings = settings.merged(ollama_url=url, vlm_model="qwen2.5vl:3b")
    standin.models["qwen2.5vl:3b"] = ["completion", "vision"]
    model_id, shots = _shots(store, settings)
    standin.invalid_answers = 1
    [ok] = caption_shots(settings, store, model_id, [shots[2].shot_id])
    assert ok.caption and len(standin.chats) == 2
    standin.invalid_answers = 2
    [bad, good] = caption_shots(settings, store, model_id, [shots[3].shot_id, shots[4].shot_id])
    assert bad.caption is None and "unparsed" in bad.error and "twice" in bad.error
    assert good.caption  # the batch went on


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing model", "ollama pull qwen2.5vl:7b"),
        ("no vision", "cannot see images"),
        ("down", "SHOTSEEK_OLLAMA_URL"),
        ("slow", "SHOTSEEK_VLM_TIMEOUT"),
    ],
)
def test_every_failure_says_what_to_do_and_search_still_answers(archive, ollama, setup, expected):
    settings, store = archive
    standin, url = ollama
    if setup == "missing model":
        standin.models.clear()
    elif setup == "no vision":
        standin.models["qwen2.5vl:7b"] = ["completion"]
    elif setup == "down":
        standin.stop()
    elif setup == "slow":
        standin.delay = 2.0
    settings = settings.merged(ollama_url=url, vlm_timeout=0.5)
    model_id, shots = _shots(store, settings)
    with pytest.raises(VlmUnavailableError, match=expected):
        Vlm(settings).ask("caption", shot_image(shots[0], settings), CaptionAnswer)
    # a query of its own, so no judgement is in the cache
    result = search(settings, store, SearchQuery(text=f"a green triangle ({setup})", limit=3))
    judged = judge_hits(settings, result, 3, rerank=True)
    assert [h.shot.shot_id for h in judged.hits] == [h.shot.shot_id for h in result.hits]
    assert expected in judged.note and all(h.judged_by is None for h in judged.hits)


def test_the_command_line_captions_reranks_and_searches_captions(tmp_path, ollama, monkeypatch):
    import json

    from typer.testing import CliRunner

    from shotseek.server.cli import app

    standin, url = ollama
    make_footage(tmp_path / "clip.mp4", [Scene("red", "circle", 3.0), Scene("blue", "square", 3.0)])
    monkeypatch.setenv("SHOTSEEK_MODEL", TINY_CLIP)
    monkeypatch.setenv("SHOTSEEK_DEVICE", "cpu")
    monkeypatch.setenv("SHOTSEEK_OLLAMA_URL", url)
    runner = CliRunner()
    assert runner.invoke(app, ["index", str(tmp_path / "clip.mp4")]).exit_code == 0
    refused = runner.invoke(app, ["caption"])
    assert refused.exit_code == 2 and "--all" in refused.stderr

    made = runner.invoke(app, ["caption", "--all", "--json"])
    assert made.exit_code == 0, made.output
    captions = json.loads(made.stdout)["captions"]
    assert captions and all(c["caption"] and not c["cached"] for c in captions)
    again = runner.invoke(app, ["caption", "--all"])
    assert (
        again.exit_code == 0 and f"0 shots captioned, {len(captions)} already were" in again.stdout
    )

    found = runner.invoke(app, ["search", "blue", "--mode", "caption", "--json"])
    hits = json.loads(found.stdout)["hits"]
    assert hits and all("blue" in h["caption"] for h in hits)

    shown = runner.invoke(app, ["search", "a red circle", "--rerank", "2", "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    assert "vlm" in shown.stdout and "yes 0.90" in shown.stdout
    assert "1. the shot shows a red shape" in shown.stdout
    assert "caption: A red shape" in shown.stdout
