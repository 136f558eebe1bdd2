"""The one Settings object: every default and bound lives here.

Values come from, in rising priority: the defaults below, environment variables ``SHOTSEEK_*``
(e.g. ``SHOTSEEK_MODEL``, ``SHOTSEEK_FPS``), then CLI flags or MCP arguments, which build a copy
with :meth:`Settings.merged`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

#: CLIP ViT-L-14 (768-D), as in the seed system. Of open_clip's ViT-L-14 weights, MetaCLIP
#: "fullcc" (2.5B pairs) has the best average image-text retrieval score in open_clip's own
#: results table (docs/openclip_retrieval_results.csv: 0.7325; Flickr30k image R@1 0.764,
#: MSCOCO image R@1 0.471). It was trained with QuickGELU, hence the ``-quickgelu`` architecture.
DEFAULT_MODEL = "ViT-L-14-quickgelu"
DEFAULT_PRETRAINED = "metaclip_fullcc"


class Settings(BaseSettings):
    """shotseek's configuration. Environment variables use the prefix ``SHOTSEEK_``."""

    model_config = SettingsConfigDict(env_prefix="SHOTSEEK_", extra="ignore", frozen=True)

    # Storage
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("shotseek")),
        description="Where the embedded store, thumbnails and search history live.",
    )

    qdrant_url: str | None = Field(
        None,
        description=(
            "Qdrant server URL (e.g. http://localhost:6333). Unset: an embedded store in "
            "<data_dir>/qdrant, for one process at a time and up to about 20,000 shots."
        ),
    )
    qdrant_api_key: str | None = Field(None, description="API key for the Qdrant server.")

    # Sampling
    fps: float = Field(
        2.0,
        ge=0.05,
        le=30.0,
        description="Frames sampled per second of video (1-3 is the useful range for search).",
    )
    frame_short_side: int = Field(
        448,
        ge=0,
        le=4320,
        description=(
            "Sampled frames are scaled (during colour conversion) so their shorter side is at "
            "most this many pixels; 0 keeps the decoded size. CLIP sees 224 px, so 448 loses "
            "nothing and saves memory and time."
        ),
    )
    decode_threads: int = Field(
        0, ge=0, le=64, description="Decoder threads; 0 lets FFmpeg choose."
    )

    # Encoder
    model: str = Field(
        DEFAULT_MODEL,
        description="open_clip model name, 'hf-hub:org/repo' or 'local-dir:/path/to/folder'.",
    )
    pretrained: str = Field(
        DEFAULT_PRETRAINED,
        description=(
            "open_clip pretrained tag, a checkpoint file, or 'none' for random weights "
            "(speed benchmarks and plumbing tests only). Ignored for hf-hub: and local-dir:."
        ),
    )
    checkpoint_tag: str | None = Field(
        None,
        description=(
            "When 'pretrained' is a checkpoint file: the open_clip tag it was downloaded as, so "
            "that tag's mean/std and QuickGELU are applied (a file does not carry them)."
        ),
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="'auto': bf16 (or fp16) on a GPU, fp32 on a CPU."
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Images per encoder batch.")
    model_cache_dir: Path | None = Field(
        None,
        description="Where downloaded weights are cached; default: the Hugging Face cache.",
    )

    # Semantic analysis (see pipeline/segment.py and bench/bench_segment.py for the measurements)
    class_threshold: float = Field(
        0.3,
        gt=0,
        lt=2,
        description="Cosine distance (average linkage) under which frames share a semantic class.",
    )
    min_scene_seconds: float = Field(
        2.0,
        ge=0,
        le=600,
        description="Class runs shorter than this are merged into a neighbouring scene.",
    )
    shot_threshold: float = Field(
        0.15,
        gt=0,
        lt=2,
        description="Cosine distance (average linkage, contiguous) under which frames join a shot.",
    )
    thumbnail_width: int = Field(480, ge=64, le=1920, description="Width of shot thumbnails.")

    # MCP server
    media_roots: str = Field(
        "",
        description=(
            "Folders the MCP server may read videos and query images from, separated by "
            "':' (';' on Windows). Nothing outside them is ever opened. Empty: none."
        ),
    )
    token: str | None = Field(
        None,
        description="Bearer token the HTTP MCP server requires (mandatory off loopback).",
    )
    index_wait_seconds: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="How long index_video waits before answering with a job id to poll.",
    )

    @property
    def media_root_paths(self) -> list[Path]:
        """The media roots, resolved (symlinks followed), in the order given."""
        parts = [p.strip() for p in self.media_roots.split(os.pathsep) if p.strip()]
        return [Path(p).expanduser().resolve() for p in parts]

    @property
    def store_location(self) -> str:
        """Where the shots live: the server URL, or the embedded store's folder."""
        return self.qdrant_url or str(self.data_dir / "qdrant")

    def merged(self, **overrides: Any) -> Settings:
        """A copy with the given values replaced; ``None`` means 'not given' and is skipped."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        data = self.model_dump()
        data.update(given)
        return type(self).model_validate(data)
