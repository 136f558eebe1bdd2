"""Looking at shots with a vision-language model (Qwen2.5-VL by default) through Ollama: caption
a shot, judge a shot against a query, rerank and explain search hits. The only module that
imports ``ollama``.

**What the model sees.** One image per shot: ``vlm_frames`` frames spread across the shot, tiled
in time order into one JPEG whose longest side is ``vlm_image_side`` (a multiple of 28 px:
Qwen2.5-VL reads a token per 28x28 pixels, so 448x448 is 256 tokens). One image, because Ollama
fuses several same-size images into one "video" for Qwen-VL models.

**How it is asked.** The prompt from ``prompts/`` (named in every stored answer), the image, JSON
by schema (``format=``), temperature 0, ``num_ctx`` sized for the image, ``think=False`` when the
model thinks, ``keep_alive`` from the settings, and explicit connect and read timeouts (the
client's default is to wait forever). An answer that is not the JSON asked for is asked again
once, then reported as unparsed: never invented.

**What is kept.** Captions in the shot's payload (searchable by BM25), keyed by model and prompt:
a shot is never captioned twice for the same pair. Judgements, which depend on the query, in
``<data dir>/vlm/judgements/``, keyed by query, shot, model and prompt.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import httpx
import numpy as np
import ollama
from PIL import Image
from pydantic import BaseModel, Field, ValidationError

from shotseek.pipeline.config import VLM_CONNECT_TIMEOUT, Settings
from shotseek.pipeline.errors import (
    ShotseekError,
    UnknownShotError,
    VlmAnswerError,
    VlmUnavailableError,
)
from shotseek.pipeline.history import write_atomically
from shotseek.pipeline.models import (
    CaptionReport,
    SearchHit,
    SearchResult,
    Shot,
    ShotCaption,
)
from shotseek.pipeline.prompts import prompt
from shotseek.pipeline.store import ShotStore
from shotseek.pipeline.video import frames_at

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)
_TOKEN_PX = 28  # Qwen2.5-VL: one visual token per 28x28 pixels
_TEXT_TOKENS = 1024  # the prompt and the answer, generously


class CaptionAnswer(BaseModel):
    """What the VLM says a shot shows."""

    caption: str = Field(min_length=1, description="One or two sentences.")
    objects: list[str] = Field(default_factory=list)
    on_screen_text: str = ""
    shot_type: str = "other"

    def searchable(self) -> str:
        """The text caption search reads: the caption, the objects, the on-screen text."""
        parts = [self.caption, ", ".join(self.objects), self.on_screen_text]
        return " ".join(p for p in parts if p.strip())


class JudgeAnswer(BaseModel):
    """Whether a shot shows what a query asks for."""

    match: bool
    relevance: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=1)


# -- the image of a shot -----------------------------------------------------------------------


def grid_size(n: int, frame_w: int, frame_h: int, side: int) -> tuple[int, int, int, int]:
    """(columns, rows, width, height) of the tiled image: sides multiples of 28, the longest
    ``side``, none under 28."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    aspect = cols * frame_w / (rows * frame_h)
    width, height = (side, side / aspect) if aspect >= 1 else (side * aspect, side)

    def snap(x: float) -> int:
        return max(_TOKEN_PX, round(x / _TOKEN_PX) * _TOKEN_PX)

    return cols, rows, snap(width), snap(height)


def shot_image(shot: Shot, settings: Settings) -> bytes:
    """The one JPEG the VLM sees for a shot: frames across it, tiled in time order."""
    n = settings.vlm_frames
    span = max(shot.end - shot.start, 1e-3)
    times = [shot.start + (i + 0.5) * span / n for i in range(n)]
    frames = frames_at(shot.path, times, short_side=settings.vlm_image_side)
    height, width = frames[0].shape[:2]
    cols, rows, grid_w, grid_h = grid_size(len(frames), width, height, settings.vlm_image_side)
    tile_w, tile_h = grid_w // cols, grid_h // rows
    canvas = Image.new("RGB", (grid_w, grid_h))
    for i, frame in enumerate(frames):
        tile = Image.fromarray(np.ascontiguousarray(frame)).resize((tile_w, tile_h), Image.LANCZOS)
        canvas.paste(tile, ((i % cols) * tile_w, (i // cols) * tile_h))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


# -- the model ---------------------------------------------------------------------------------


class Vlm:
    """The VLM in Ollama, asked for JSON about one image at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model = settings.vlm_model
        self.url = settings.ollama_url
        self._client = ollama.Client(
            host=settings.ollama_url,
            timeout=httpx.Timeout(settings.vlm_timeout, connect=VLM_CONNECT_TIMEOUT),
        )
        self._capabilities: list[str] | None = None
        self._timeout = settings.vlm_timeout  # the read timeout of the request being made
        self.requests = 0  # chat requests sent, for the curious and the tests

    def close(self) -> None:
        self._client.close()

    def _call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        try:
            return fn(*args, **kwargs)
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise VlmUnavailableError(
                    f"the VLM {self.model} is not in Ollama at {self.url}: run `ollama pull "
                    f"{self.model}` (or set SHOTSEEK_VLM_MODEL to a vision model you have)"
                ) from exc
            raise VlmUnavailableError(
                f"Ollama at {self.url} refused the request for {self.model} "
                f"({exc.status_code}: {exc.error})"
            ) from exc
        except ConnectionError as exc:
            raise VlmUnavailableError(
                f"Ollama is not reachable at {self.url}: start it (`ollama serve`, or `docker "
                "compose up`) or set SHOTSEEK_OLLAMA_URL to where it runs"
            ) from exc
        except httpx.TimeoutException as exc:
            if self._timeout < self.settings.vlm_timeout:
                raise VlmUnavailableError(
                    f"{self.model} gave no answer within the {self._timeout:.0f} s left of the "
                    "VLM budget (SHOTSEEK_VLM_BUDGET_SECONDS)"
                ) from exc
            raise VlmUnavailableError(
                f"{self.model} in Ollama at {self.url} gave no answer within "
                f"{self.settings.vlm_timeout:.0f} s (SHOTSEEK_VLM_TIMEOUT): a GPU, a smaller "
                "model (qwen2.5vl:3b) or a longer timeout helps"
            ) from exc
        except httpx.HTTPError as exc:
            raise VlmUnavailableError(f"talking to Ollama at {self.url} failed: {exc}") from exc

    def _limit(self, deadline: float | None) -> None:
        """The next request's read timeout: ``vlm_timeout``, or less where a budget ends
        sooner (the client's own httpx client carries it)."""
        seconds = self.settings.vlm_timeout
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise VlmUnavailableError(
                    f"the VLM budget ran out before {self.model} was asked "
                    "(SHOTSEEK_VLM_BUDGET_SECONDS)"
                )
            seconds = min(seconds, left)
        self._timeout = seconds
        self._client._client.timeout = httpx.Timeout(seconds, connect=VLM_CONNECT_TIMEOUT)

    def check(self) -> list[str]:
        """The model's capabilities; fails when it is missing or cannot see images."""
        if self._capabilities is None:
            shown = self._call(self._client.show, self.model)
            capabilities = [str(c) for c in (shown.capabilities or [])]
            if capabilities and "vision" not in capabilities:
                raise VlmUnavailableError(
                    f"{self.model} cannot see images (it can: {', '.join(capabilities)}); set "
                    "SHOTSEEK_VLM_MODEL to a vision model such as qwen2.5vl:7b"
                )
            self._capabilities = capabilities
        return self._capabilities

    def ask(self, text: str, image: bytes, schema: type[T], within: float | None = None) -> T:
        """The model's answer about the image, validated against ``schema`` (asked twice at
        most); ``within``: seconds the whole answer may take (a budget's remainder), else
        each request gets ``vlm_timeout``."""
        deadline = None if within is None else time.monotonic() + max(0.0, within)
        capabilities = self.check()
        width, height = Image.open(io.BytesIO(image)).size
        tokens = (width // _TOKEN_PX) * (height // _TOKEN_PX) + _TEXT_TOKENS
        extra = {"think": False} if "thinking" in capabilities else {}
        problem = ""
        for _ in range(2):
            self._limit(deadline)
            response = self._call(
                self._client.chat,
                model=self.model,
                messages=[{"role": "user", "content": text, "images": [image]}],
                format=schema.model_json_schema(),
                options={"temperature": 0, "num_ctx": 1024 * math.ceil(tokens / 1024)},
                keep_alive=self.settings.vlm_keep_alive,
                **extra,
            )
            self.requests += 1
            try:
                return schema.model_validate_json(response.message.content or "")
            except ValidationError as exc:
                problem = str(exc.errors()[0]["msg"]) if exc.errors() else str(exc)
        raise VlmAnswerError(
            f"{self.model} answered twice with something other than the JSON asked for "
            f"({problem}); the shot is left unparsed"
        )


# -- captions ----------------------------------------------------------------------------------


def caption_key(settings: Settings) -> str:
    """Who wrote a caption: the VLM and the prompt (a caption is redone when either changes)."""
    return f"{settings.vlm_model} {prompt('caption').name}"


def caption_shots(
    settings: Settings,
    store: ShotStore,
    model_id: str,
    shot_ids: Sequence[str],
    *,
    vlm: Vlm | None = None,
    progress: Callable[[int, int, ShotCaption], None] | None = None,
    budget_seconds: float | None = None,
) -> list[ShotCaption]:
    """Caption the shots not yet captioned by this model and prompt; the others are read back.
    A shot that cannot be looked at (its video gone, an unparsed answer) is reported and the
    rest go on; Ollama down or the model missing stops the batch with the fix. With
    ``budget_seconds``, shots left when it runs out are reported as not captioned (a later call
    goes on from there: what was captioned is kept)."""
    shots = store.get_shots(model_id, shot_ids)
    unknown = [i for i in shot_ids if i not in shots]
    if unknown:
        raise UnknownShotError(f"no visible shot has the id(s) {', '.join(unknown[:5])}")
    key = caption_key(settings)
    stored = store.captions(model_id, list(shot_ids))
    template = prompt("caption")
    own = vlm is None
    vlm = vlm or Vlm(settings)
    results: list[ShotCaption] = []
    deadline = None if budget_seconds is None else time.monotonic() + budget_seconds
    try:
        for number, shot_id in enumerate(dict.fromkeys(shot_ids), start=1):
            kept = stored.get(shot_id, {})
            if (
                deadline is not None
                and time.monotonic() > deadline
                and kept.get("caption_by") != key
            ):
                result = ShotCaption(
                    shot_id=shot_id,
                    by=key,
                    error=f"not captioned: the budget of {budget_seconds:.0f} s "
                    "(SHOTSEEK_VLM_BUDGET_SECONDS) ran out; ask again to go on",
                )
            elif kept.get("caption_by") == key:
                result = ShotCaption(shot_id=shot_id, caption=kept["caption"], by=key, cached=True)
            else:
                try:
                    image = shot_image(shots[shot_id], settings)
                    answer = vlm.ask(
                        template.render(frames=settings.vlm_frames),
                        image,
                        CaptionAnswer,
                        within=None if deadline is None else deadline - time.monotonic(),
                    )
                except VlmUnavailableError as exc:
                    if deadline is None or time.monotonic() < deadline - 0.5:
                        raise
                    result = ShotCaption(  # the budget ended inside the request
                        shot_id=shot_id, by=key, error=f"not captioned: {exc}; ask again"
                    )
                except ShotseekError as exc:
                    result = ShotCaption(shot_id=shot_id, by=key, error=str(exc))
                else:
                    text = answer.searchable()
                    store.set_caption(
                        model_id,
                        shot_id,
                        text,
                        caption_by=key,
                        caption_detail=answer.model_dump(),
                    )
                    result = ShotCaption(shot_id=shot_id, caption=text, by=key)
            results.append(result)
            if progress is not None:
                progress(number, len(shot_ids), result)
    finally:
        if own:
            vlm.close()
    return results


# -- judging search hits -----------------------------------------------------------------------


def caption_videos(
    settings: Settings,
    store: ShotStore,
    videos: Sequence[str] | None,
    *,
    progress: Callable[[int, int, ShotCaption], None] | None = None,
) -> CaptionReport:
    """``shotseek caption``: every shot of the named videos (ids, paths or names), or of all
    videos; resumable, since captioned shots are read back."""
    from shotseek.pipeline.catalog import reader_model

    model_id = reader_model(store, settings).model_id
    records = (
        [store.find_video(model_id, ref) for ref in videos]
        if videos
        else store.list_videos(model_id)
    )
    ids = [s.shot_id for r in records for s in store.shots_of(model_id, r.video_id)]
    return CaptionReport(
        captions=caption_shots(settings, store, model_id, ids, progress=progress) if ids else []
    )


def _judgement_path(settings: Settings, query: str, shot_id: str, by: str):
    digest = hashlib.sha256(json.dumps([query, shot_id, by]).encode()).hexdigest()[:32]
    return settings.data_dir / "vlm" / "judgements" / f"{digest}.json"


def judge_hits(
    settings: Settings,
    result: SearchResult,
    count: int,
    *,
    rerank: bool,
    vlm: Vlm | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> SearchResult:
    """Judge the first ``count`` hits against the query text; with ``rerank`` put them in the
    order the rule gives: judged hits first, matches before non-matches, then by VLM relevance,
    then by CLIP score; hits not judged keep their CLIP order after them. Without ``rerank`` the
    order stays and each judged hit gets its explanation. Failures become a note, never an
    error: the CLIP hits stand. The budget (``vlm_budget_seconds``) bounds each VLM request
    too, not only the loop; ``progress`` hears each shot before it is judged (and may raise to
    stop: the judgements made are kept on disk)."""
    query = (result.query.text or "").strip()
    if not query:
        return _noted(result, "the VLM judges hits against query text: this search has none")
    template = prompt("judge")
    by = f"{settings.vlm_model} {template.name}"
    own = vlm is None
    vlm = vlm or Vlm(settings)
    deadline = time.monotonic() + settings.vlm_budget_seconds
    hits = list(result.hits)
    problems: list[str] = []
    try:
        for i, hit in enumerate(hits[:count]):
            if progress is not None:
                progress(i, count, f"judging shot {i + 1} of {count}")
            if time.monotonic() > deadline:
                problems.append(
                    f"{count - i} hits were not judged: the VLM budget of "
                    f"{settings.vlm_budget_seconds:.0f} s (SHOTSEEK_VLM_BUDGET_SECONDS) ran out"
                )
                break
            path = _judgement_path(settings, query, hit.shot.shot_id, by)
            try:
                answer = JudgeAnswer.model_validate_json(path.read_text())
            except (OSError, ValidationError):
                try:
                    image = shot_image(hit.shot, settings)
                    answer = vlm.ask(
                        template.render(frames=settings.vlm_frames, query=query),
                        image,
                        JudgeAnswer,
                        within=deadline - time.monotonic(),
                    )
                except VlmUnavailableError as exc:
                    problems.append(f"no VLM judgement: {exc}")
                    break
                except ShotseekError as exc:
                    problems.append(f"shot {hit.shot.shot_id[:8]} was not judged: {exc}")
                    continue
                write_atomically(path, answer.model_dump_json())
            hits[i] = hit.model_copy(
                update={
                    "relevance": answer.relevance,
                    "match": answer.match,
                    "explanation": answer.reason,
                    "judged_by": by,
                }
            )
    finally:
        if own:
            vlm.close()
    if rerank:
        judged = [h for h in hits if h.judged_by is not None]
        rest = [h for h in hits if h.judged_by is None]
        judged.sort(key=lambda h: (bool(h.match), h.relevance or 0.0, h.score), reverse=True)
        hits = [h.model_copy(update={"rank": r}) for r, h in enumerate(judged + rest, start=1)]
    result = result.model_copy(update={"hits": hits})
    for problem in problems:
        result = _noted(result, problem)
    return result


def with_captions(settings: Settings, store: ShotStore, result: SearchResult) -> SearchResult:
    """Each hit with the caption stored for it, if any (nothing is asked of the VLM)."""
    stored = store.captions(result.model_id, [h.shot.shot_id for h in result.hits])
    hits: list[SearchHit] = [
        h.model_copy(update={"caption": stored[h.shot.shot_id]["caption"]})
        if h.shot.shot_id in stored
        else h
        for h in result.hits
    ]
    return result.model_copy(update={"hits": hits})


def _noted(result: SearchResult, note: str) -> SearchResult:
    joined = f"{result.note} {note}" if result.note else note
    return result.model_copy(update={"note": joined})
