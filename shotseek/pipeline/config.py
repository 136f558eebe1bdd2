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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

#: ``model`` (and ``pretrained``) value for "choose for me", the default: the store's model when
#: it holds exactly one (a store keeps one embedding space, whichever machine adds to it), else
#: the default of the device the encoder runs on, below. Chosen by evidence (README,
#: "Performance and quality"; ``bench/bench_models.py``).
AUTO_MODEL = "auto"
#: On a GPU: SigLIP 2 ViT-L/16 at 256 px (1024-D, Apache-2.0 weights). SigLIP 2 outperforms
#: SigLIP at every size in image-text retrieval (its paper); SigLIP ViT-L/16-256 already leads
#: the earlier default, CLIP ViT-L-14/MetaCLIP, on MSCOCO text→image R@1 (52.3 % vs 47.1 %,
#: open_clip's table) and ImageNet (80.5 % vs 79.2 %), and MetaCLIP's weights are CC-BY-NC
#: (no commercial use), a trap for an archive. Speed is not what limits a GPU.
DEFAULT_MODEL = "ViT-L-16-SigLIP2-256"
DEFAULT_PRETRAINED = "webli"
#: On a CPU: SigLIP 2 ViT-B/16 at 256 px (768-D, Apache-2.0): 3.8x ViT-L-14's images per second
#: on 2 cores (2.82 vs 0.74, random weights), MSCOCO text→image R@1 53.2 % and ImageNet 79.1 %
#: (model card). Faster candidates are research-only (MobileCLIP2) or far weaker (ViT-B-32).
CPU_MODEL = "ViT-B-16-SigLIP2-256"
CPU_PRETRAINED = "webli"
#: ``pretrained`` value meaning "the model's weights with the best average retrieval score in
#: open_clip's results table" (shotseek/pipeline/data/open_clip_retrieval.csv). A model named
#: without weights (``--model ViT-B-32`` alone, or SHOTSEEK_MODEL without SHOTSEEK_PRETRAINED)
#: gets these, not the default model's tag.
BEST_PRETRAINED = "best"

# -- bounds: each declared here once; Settings, the pipeline, the CLI and the MCP tools read them

#: Frames sampled per second.
FPS_MIN, FPS_MAX = 0.05, 30.0
#: Hits per search: the default, the most the pipeline and the CLI return, and the most an MCP
#: reply carries (each hit may bring a thumbnail; a chat model reads every line).
DEFAULT_LIMIT, LIMIT_MAX, MCP_LIMIT_MAX = 10, 500, 50
#: With text and an image, the image's share of the combined query vector.
DEFAULT_IMAGE_WEIGHT = 0.5
#: Characters of query text (CLIP reads 77 tokens, about 300 characters; the rest is cut).
MAX_TEXT_CHARS = 2000
#: Items in a list argument (videos, positive/negative shots, extra texts).
MAX_LIST_ITEMS = 100
#: Characters of a path, id or other reference (Linux PATH_MAX is 4096).
MAX_REF_CHARS = 4096
#: Query images: file size, and pixels before decoding (a 316 KB PNG can hold 100 megapixels).
MAX_IMAGE_BYTES = 50 * 2**20
MAX_IMAGE_PIXELS = 50_000_000
#: ...and sent inline (MCP's image_base64): base64 of that, with room for line breaks; an MCP
#: request over HTTP may be that large plus its envelope (the SDK's own cap is 4 MB, which once
#: refused a 4 MB photo that the tool's schema accepted).
MAX_IMAGE_BASE64_CHARS = 70 * 2**20
MAX_HTTP_REQUEST_BYTES = MAX_IMAGE_BASE64_CHARS + 2**20
#: Query images are decoded (JPEG: reduced in the decoder) to at most this many pixels a side.
QUERY_IMAGE_SIDE = 1024
#: Searches kept for refine, and what calibrates no_good_match (see pipeline/history.py).
MAX_SEARCHES_KEPT = 500
CALIBRATION_WINDOW, CALIBRATION_MIN, NO_MATCH_MARGIN = 50, 5, 3.0
#: An index job's reply lists at most this many failures and this many results a page.
JOB_FAILURES_SHOWN, JOB_PAGE_MAX = 20, 100
#: An MCP reply's structured content stays under this many bytes (a chat model reads all of
#: it): long lists come in pages, with a cursor. A structure page holds at most this many shots.
MCP_REPLY_BYTES, STRUCTURE_PAGE_MAX = 64_000, 200
#: A long MCP call (the VLM judging or captioning shots) says which step it is on at least this
#: often: common clients give up on a silent call after about 60 s.
PROGRESS_EVERY_S = 3.0
#: Sequence queries ("this, then that"): steps at most, the default and largest gap in seconds
#: between one step's shot and the next's, and the candidates each step takes from the index
#: before they are joined per video.
SEQUENCE_STEPS_MAX, SEQUENCE_WITHIN_S, SEQUENCE_WITHIN_MAX = 5, 30.0, 3600.0
SEQUENCE_CANDIDATES = 1000
#: The gallery (server/gallery.py): the port ``shotseek serve --http`` and ``shotseek gallery``
#: listen on, the shots it remembers from the results it sent (only those are played, scrubbed
#: or shown), its browser sessions, and the frames of a shot's hover-scrub sprite.
HTTP_PORT = 8000
GALLERY_SHOTS_KEPT, GALLERY_SESSIONS_KEPT = 50_000, 1_000
SPRITE_FRAMES, SPRITE_HEIGHT = 10, 90
#: The embedded store's search index (HNSW): edges per node, candidates while building, and how
#: many KB of vectors outside it are searched exactly instead (10,000 KB: about 3,300 768-D shots;
#: below that a scan is as fast as the graph). Qdrant's defaults.
HNSW_M, HNSW_EF_CONSTRUCT, INDEX_THRESHOLD_KB = 16, 100, 10_000
#: With quantized vectors (SHOTSEEK_QUANTIZE), this many times the asked-for shots are found with
#: the int8 copies and rescored with the full vectors.
RESCORE_OVERSAMPLING = 2.0
#: The VLM: the default model, how long connecting to Ollama may take, hits judged by default
#: (``--rerank`` without a number) and at most.
DEFAULT_VLM = "qwen2.5vl:7b"
VLM_CONNECT_TIMEOUT = 5.0
DEFAULT_RERANK, RERANK_MAX = 10, 50
#: Reciprocal-rank fusion's constant, as in Cormack et al. (2009) and Qdrant's RRF; hybrid
#: search fuses this many candidates of each ranking (or the limit, if larger).
RRF_K, FUSION_CANDIDATES = 60, 100
#: ``shotseek eval``: the recall cut-offs it reports, and how deep it looks for each query.
EVAL_KS, EVAL_DEPTH = (1, 2, 5, 10, 20, 50), 50
#: A run being written holds a lease in the store (``shotseek_writers``), renewed with every
#: batch of shots it stages (256 shots: well under a second); garbage collection and other runs'
#: clean-up leave a leased run alone. A lease not renewed for this long is a dead writer's (a
#: process killed on another machine sharing the Qdrant server): its points are garbage.
WRITER_LEASE_SECONDS = 120.0
#: Still pictures (stills.py): a sample whose 32-pixel colour thumbnail differs from the last
#: embedded sample's by at most this many levels (0-255) on average reuses its embedding.
#: Generated stills differ by 0, slow motion on generated footage by 0.2–1 (at 2 fps);
#: compression noise averages out in the thumbnail.
STILL_THRESHOLD = 0.5
STILL_THRESHOLD_MAX = 8.0
#: Shot thumbnails are read back from the video by at most this many readers at once.
THUMBNAIL_READERS = 4
#: Indexing keeps a thumbnail of each embedded sample at least this long after the keyframe
#: before it (in a temporary file), for the shots' keyframes: reading one back later costs a
#: seek and at least this long decoded (≥ 25 frames at 25 fps, ~20 ms at 720p), keeping one
#: costs ~1.7 ms, and about one sample in ten becomes a keyframe. Samples nearer a keyframe
#: (short-GOP and all-intra footage: all of them) are read back if they become one.
THUMBNAIL_IN_PASS_AFTER_KEY_S = 1.0
#: Sampling decodes this many frames ahead, on a thread of its own (FFmpeg's calls let go of
#: the GIL), while its own thread converts, reduces and watches each frame: 10 runs of 1 min
#: of 720p alternating, decoding side alone, median 2.15 s on one thread, 1.79 s with 8 ahead
#: (1.96 with 2, 1.90 with 4), the same CPU time. Frames held: this many, at most 12 MB each
#: (4K).
DECODE_AHEAD_FRAMES = 8
#: Where the model runs on the CPU's workers (every core), FFmpeg decodes on this many threads
#: unless SHOTSEEK_DECODE_THREADS says otherwise: its own frame threads only take turns with
#: the model's and cost their synchronisation. Measured while the sampler still decoded ahead
#: on a thread of its own: 10 min of 720p on 2 cores, alternating with FFmpeg's choice, 65.2-66.2
#: s against 66.4-67.3 (137 against 138 CPU-s), and a static-heavy file 9.0-9.5 against 10.0-10.9
#: s (21 against 24 CPU-s); the same shots. On a GPU FFmpeg chooses.
CPU_DECODE_THREADS = 1
#: ...and decodes that many frames ahead (0: on the sampler's own thread, no decoding-ahead
#: thread): beside workers that fill the cores, handing each frame over (two context switches
#: a frame) costs the model more than the overlap gains. 10 min of 720p on 2 cores, runs
#: alternating with 8 ahead: 54.5 and 56.5 s, 0.93 and 0.92 of the ceiling, against 56.7 and
#: 58.2 s, 0.91 and 0.91 (the decoding side 10.2-10.4 CPU-s against 11.2-11.9); the same shots.
CPU_DECODE_AHEAD_FRAMES = 0
#: A folder's files are decoded several at once, each in a process of its own (parallel.py),
#: while this process's model embeds all their samples. Where the model leaves the cores free
#: (a GPU), one process per DECODE_PROCESS_CORES cores: one file at 1080p cannot be decoded as
#: fast as a GPU embeds its samples, and each process's per-frame work (conversions, cut
#: detection) holds a GIL of its own; not measured on a GPU yet (bench/gpu_run.sh runs
#: bench_index --processes). Where the model's workers fill the cores (a CPU),
#: CPU_DECODE_PROCESSES: the next file decodes while one is analysed and stored, and batches
#: are full across files: 4 files of 1 min of 720p on 2 cores, 1.04-1.08x one at a time in 6
#: runs (7.86-8.52 video-s/s against 7.52-8.10; bench_index --processes 2 --files 4); 3
#: processes 1.06x.
DECODE_PROCESS_CORES, CPU_DECODE_PROCESSES = 4, 2
#: Rows of samples travel back in chunks of PROCESS_ROWS, a process at most PROCESS_CHUNKS_AHEAD
#: chunks ahead of the model (1080p for a 224-pixel model: ~0.3 MB a row, ~35 MB a process),
#: so it goes on decoding while a GPU batch runs.
PROCESS_ROWS, PROCESS_CHUNKS_AHEAD = 8, 16
#: On a GPU, indexing decodes this many encoder batches ahead of the model, on a thread of its
#: own (on a CPU the model runs on the encoder's workers and the indexing thread decodes).
PREFETCH_BATCHES = 2
#: Encoder batches: ``batch_size`` 0 (AUTO_BATCH) means, on a CPU, CPU_BATCH images shared
#: between the model's one-per-core workers (a batch of CPU_BATCH / workers each, at least
#: CPU_WORKER_BATCH_MIN), so the model's memory does not grow with the cores: on one thread
#: ViT-B-32 runs 8.5-8.8 images/s on batches of 8 or 16, 8.1-8.4 on 32; and on a GPU the
#: largest power of two whose activations fit in GPU_MEMORY_SHARE of the free memory, as
#: measured on a batch of BATCH_PROBE, at most GPU_BATCH_MAX.
AUTO_BATCH, CPU_BATCH, CPU_WORKER_BATCH_MIN, BATCH_MAX = 0, 32, 8, 4096
GPU_MEMORY_SHARE, GPU_BATCH_MAX, BATCH_PROBE = 0.5, 1024, 8
#: ``--ray local``: a Ray started for the run on this machine (cluster.py), not a cluster's.
RAY_LOCAL = "local"
#: ``--ray`` with no address: the cluster this machine joined (``ray start``), as Ray names it.
RAY_AUTO = "auto"
#: The share of a CPU a decoding task asks Ray for: decoding at 2 samples/s needs far less than
#: a core, and on a 2-core node the encoder should get the rest (bench_index --ray). Rows handed
#: to a GPU actor at a time, with batch_size auto (it splits them by its memory).
RAY_DECODE_CPUS, RAY_GPU_ROWS = 0.5, 256
#: A text graph (text_graph.py) is kept only if its vectors match the model's this closely
#: (cosine, on every check text); fp32 export reproduces them to ~1e-7.
TEXT_GRAPH_MIN_COSINE = 0.9999
#: A bearer token shorter than this is refused: it could be guessed.
MIN_TOKEN_CHARS = 16


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
            "Qdrant server URL (e.g. http://localhost:6333). Unset: the embedded store (Qdrant "
            "Edge) in <data_dir>/edge, for one process at a time."
        ),
    )
    qdrant_api_key: SecretStr | None = Field(
        None, description="API key for the Qdrant server (never printed or logged)."
    )

    hnsw_ef: int = Field(
        128,
        ge=16,
        le=4096,
        description=(
            "Candidates the search index (HNSW) examines per query: higher finds the true "
            "nearest shots more often and costs time (see bench/bench_store.py)."
        ),
    )
    quantize: bool = Field(
        False,
        description=(
            "Keep an int8 copy of each shot vector in memory for the search index, the full "
            "vectors on disk for rescoring: a quarter of the memory. Chosen when the embedded "
            "store is created."
        ),
    )

    # Sampling
    fps: float = Field(
        2.0,
        ge=FPS_MIN,
        le=FPS_MAX,
        description="Frames sampled per second of video (1-3 is the useful range for search).",
    )
    frame_short_side: int = Field(
        0,
        ge=0,
        le=4320,
        description=(
            "Sampled frames are scaled (during colour conversion, by area) so their shorter side "
            "is at most this many pixels; 0: the model's input size (224 or 256 px), so the "
            "model's own preprocessing has almost nothing left to resize."
        ),
    )
    decode_threads: int = Field(
        0,
        ge=0,
        le=64,
        description=(
            "Decoder threads; 0: one where the model runs on the CPU (its workers fill every "
            "core), else FFmpeg chooses."
        ),
    )
    decode_processes: int = Field(
        0,
        ge=0,
        le=64,
        description=(
            "Files decoded at once, each in a process of its own, while this process's model "
            "embeds their samples; 1: one file at a time, decoded in this process; 0: one "
            f"per {DECODE_PROCESS_CORES} cores where the model runs on a GPU, "
            f"{CPU_DECODE_PROCESSES} where it runs on the CPU."
        ),
    )
    still_threshold: float = Field(
        STILL_THRESHOLD,
        ge=0.0,
        le=STILL_THRESHOLD_MAX,
        description=(
            "A sample that differs from the last embedded one by at most this many levels "
            "(0-255, mean over a 32-pixel colour thumbnail) reuses its embedding: a still "
            "picture costs no model call. 0 embeds every sample."
        ),
    )

    # Encoder
    model: str = Field(
        AUTO_MODEL,
        description=(
            "open_clip model name, 'hf-hub:org/repo', 'local-dir:/path/to/folder', or 'auto': "
            f"the store's model, else {DEFAULT_MODEL}/{DEFAULT_PRETRAINED} on a GPU and "
            f"{CPU_MODEL}/{CPU_PRETRAINED} on a CPU."
        ),
    )
    pretrained: str = Field(
        AUTO_MODEL,
        description=(
            "'auto' (with model 'auto'), an open_clip pretrained tag, a checkpoint file, 'best' "
            "(the model's weights with the "
            "best retrieval score in open_clip's results; what a model named alone gets), or "
            "'none' for random weights (speed benchmarks and plumbing tests only). Ignored for "
            "hf-hub: and local-dir:."
        ),
    )
    checkpoint_tag: str | None = Field(
        None,
        description=(
            "When 'pretrained' is a checkpoint file: the open_clip tag it was downloaded as, so "
            "that tag's mean/std and QuickGELU are applied (a file does not carry them)."
        ),
    )
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Where the model runs; 'auto': CUDA, then Apple MPS, then the CPU."
    )
    precision: Literal["auto", "fp32", "fp16", "bf16"] = Field(
        "auto", description="'auto': bf16 (or fp16) on a GPU, fp32 on a CPU."
    )
    batch_size: int = Field(
        AUTO_BATCH,
        ge=0,
        le=BATCH_MAX,
        description=(
            f"Images per encoder batch; {AUTO_BATCH}: on a CPU {CPU_BATCH} shared between "
            f"its one-per-core model workers (at least {CPU_WORKER_BATCH_MIN} each), on a GPU "
            "as many as "
            f"{GPU_MEMORY_SHARE:.0%} of its free memory holds (measured, at most {GPU_BATCH_MAX})."
        ),
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where downloaded weights are cached; default: the Hugging Face cache.",
    )
    ray: str | None = Field(
        None,
        description=(
            "Index on a Ray cluster (pip install 'shotseek[ray]'): 'auto' for the cluster this "
            "machine joined (ray start), ray://HOST:10001 for a remote one, 'local' for a Ray "
            "on this machine only. Media must be readable at the same path on every node."
        ),
    )
    text_graph: bool = Field(
        True,
        description=(
            "Command-line text searches run the model's text tower with onnxruntime, from a "
            "copy written once per model in <data_dir>/text-graphs, instead of loading torch "
            "(a search then takes ~2 s instead of 6-10 s). Off: always load the model."
        ),
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
    min_shot_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description=(
            "Shots shorter than this are merged into the neighbour they resemble most (the "
            "blended frames of a dissolve otherwise make a sliver shot)."
        ),
    )
    cut_threshold: float = Field(
        3.0,
        ge=0,
        le=50,
        description=(
            "Camera cuts, found on every decoded frame: how many times larger than its "
            "neighbours' a frame's change of picture must be (PySceneDetect's adaptive "
            "threshold). Lower finds more cuts; 0 turns cut detection off."
        ),
    )
    cut_min_shot_seconds: float = Field(
        0.4,
        ge=0,
        le=60,
        description="Shortest camera shot: a cut closer than this to the previous one is ignored.",
    )
    thumbnail_width: int = Field(480, ge=64, le=1920, description="Width of shot thumbnails.")

    # VLM enrichment (Ollama; see pipeline/captions.py)
    ollama_url: str = Field(
        "http://localhost:11434", description="Where Ollama answers (its OLLAMA_HOST)."
    )
    vlm_model: str = Field(
        DEFAULT_VLM,
        min_length=1,
        description=(
            "Vision-language model in Ollama that captions and judges shots "
            "(qwen2.5vl:3b for small GPUs; qwen3-vl:8b-instruct and gemma4 also see images)."
        ),
    )
    vlm_timeout: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="Seconds one VLM answer may take before it is given up (CPU-only is slow).",
    )
    vlm_budget_seconds: float = Field(
        300.0,
        gt=0,
        le=7200,
        description=(
            "Seconds a search may spend judging hits with the VLM; the hits not judged by then "
            "keep their CLIP order and the result says so."
        ),
    )
    vlm_keep_alive: str = Field(
        "5m", description="How long Ollama keeps the model loaded after a request (e.g. 30m, 0)."
    )
    vlm_frames: int = Field(
        4,
        ge=1,
        le=9,
        description="Frames across a shot, tiled into the one image the VLM sees per shot.",
    )
    vlm_image_side: int = Field(
        448,
        ge=56,
        le=1344,
        multiple_of=28,
        description=(
            "Longest side in pixels of that image (a multiple of 28: Qwen2.5-VL reads one "
            "token per 28x28 pixels, so 448x448 costs 256 tokens)."
        ),
    )

    # MCP server
    media_roots: str = Field(
        "",
        description=(
            "Folders the MCP server may read videos and query images from, separated by "
            "':' (';' on Windows). Nothing outside them is ever opened. Empty: none."
        ),
    )
    token: SecretStr | None = Field(
        None,
        description=(
            f"Bearer token the HTTP MCP server requires (mandatory off loopback); at least "
            f"{MIN_TOKEN_CHARS} characters."
        ),
    )
    allowed_hosts: str = Field(
        "",
        description=(
            "Host names HTTP clients use to reach the MCP server, comma-separated (e.g. "
            "footage.example.org); requests naming any other host are refused (DNS rebinding)."
        ),
    )
    index_wait_seconds: float = Field(
        20.0,
        ge=0,
        le=3600,
        description="How long index_video waits before answering with a job id to poll.",
    )

    job_keep_seconds: float = Field(
        3600.0,
        ge=0,
        le=7 * 86400,
        description="How long the MCP server remembers a finished index job for index_status.",
    )

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        """The token without the white space around it (a file or a shell often adds a
        newline; a client sends the token alone), and long enough not to be guessed."""
        if value is None:
            return None
        text = value.get_secret_value().strip()
        if len(text) < MIN_TOKEN_CHARS:
            raise ValueError(
                f"the token is {'blank' if not text else 'too short'}: use at least "
                f"{MIN_TOKEN_CHARS} characters (e.g. SHOTSEEK_TOKEN=$(openssl rand -hex 24)), "
                "or unset it"
            )
        return SecretStr(text)

    @property
    def media_root_paths(self) -> list[Path]:
        """The media roots, resolved (symlinks followed), in the order given."""
        parts = [p.strip() for p in self.media_roots.split(os.pathsep) if p.strip()]
        return [Path(p).expanduser().resolve() for p in parts]

    @property
    def allowed_host_names(self) -> list[str]:
        return [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]

    @property
    def store_path(self) -> Path:
        """The embedded store's folder (Qdrant Edge)."""
        return self.data_dir / "edge"

    @property
    def text_graph_dir(self) -> Path:
        """Where the models' text towers are kept for torch-free text queries."""
        return self.data_dir / "text-graphs"

    @property
    def exports_dir(self) -> Path:
        """Where exports made for MCP clients are written (the CLI writes where it is told)."""
        return self.data_dir / "exports"

    @property
    def clips_dir(self) -> Path:
        """Where clips cut for MCP clients are written (the CLI writes where it is told)."""
        return self.data_dir / "clips"

    @property
    def legacy_store_path(self) -> Path:
        """Where shotseek kept its embedded store before Qdrant Edge (migrated on open)."""
        return self.data_dir / "qdrant"

    @property
    def store_location(self) -> str:
        """Where the shots live: the server URL, or the embedded store's folder."""
        return self.qdrant_url or str(self.store_path)

    @model_validator(mode="after")
    def _weights_follow_the_model(self) -> Settings:
        auto_model, auto_weights = self.model == AUTO_MODEL, self.pretrained == AUTO_MODEL
        if auto_model and not auto_weights:  # weights named alone: the GPU default's, as ever
            object.__setattr__(self, "model", DEFAULT_MODEL)
        elif auto_weights and not auto_model:  # a model named alone: its best weights
            weights = DEFAULT_PRETRAINED if self.model == DEFAULT_MODEL else BEST_PRETRAINED
            object.__setattr__(self, "pretrained", weights)
        return self

    def merged(self, **overrides: Any) -> Settings:
        """A copy with the given values replaced; ``None`` means 'not given' and is skipped.
        What was never set stays unset (a new model without weights gets its best ones)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        data = self.model_dump(include=self.model_fields_set)
        data.update(given)
        return type(self).model_validate(data)

    def sent_with_requests(self) -> dict[str, Any]:
        """What a command sends a running server with each request: every setting this
        process was given (its SHOTSEEK_* variables and flags), less the private ones and the
        data directory (which chose the server). The server takes or refuses them:
        :meth:`for_request`."""
        given = self.model_fields_set - PRIVATE_SETTINGS - {"data_dir"}
        return self.model_dump(mode="json", include=given)

    def for_request(self, sent: dict[str, Any]) -> Settings:
        """A server's settings for one request: the :data:`REQUEST_SETTINGS` the caller sent,
        taken; any other setting that differs from the server's own refused in one line (once
        they were dropped without a word)."""
        own = self.model_dump(mode="json")
        kept = sorted(k for k, v in sent.items() if k not in REQUEST_SETTINGS and own.get(k) != v)
        if kept:
            from shotseek.pipeline.errors import ServerRefusedError

            names = ", ".join(f"SHOTSEEK_{k.upper()}" for k in kept)
            raise ServerRefusedError(
                f"the running shotseek server keeps its own {names} for every caller: unset it "
                f"for this command, or restart the server with it (`shotseek serve`)"
            )
        return self.merged(**{k: v for k, v in sent.items() if k in REQUEST_SETTINGS})

    def for_workers(self) -> WorkerSettings:
        """What a decode process, a Ray task or a Ray actor receives: every setting but the
        private ones (:data:`PRIVATE_SETTINGS`), as a model without masked values, so that it
        crosses a process boundary as JSON and back exactly."""
        return WorkerSettings.model_validate(self.model_dump(exclude=set(PRIVATE_SETTINGS)))


#: Settings a caller may choose for one request to a running server (the CLI beside ``shotseek
#: serve``): how a run samples, embeds, segments and captions. Where the store is, who may reach
#: it and what it may read stay the server's (a different value is refused, never dropped).
REQUEST_SETTINGS = frozenset(
    {
        "fps",
        "frame_short_side",
        "decode_threads",
        "decode_processes",
        "still_threshold",
        "model",
        "pretrained",
        "checkpoint_tag",
        "device",
        "precision",
        "batch_size",
        "ray",
        "text_graph",
        "class_threshold",
        "min_scene_seconds",
        "shot_threshold",
        "min_shot_seconds",
        "cut_threshold",
        "cut_min_shot_seconds",
        "thumbnail_width",
        "vlm_model",
        "vlm_timeout",
        "vlm_budget_seconds",
        "vlm_keep_alive",
        "vlm_frames",
        "vlm_image_side",
    }
)

#: Settings that never leave the process that read them: secrets, and the store's address (a
#: URL can carry credentials; no worker opens the store).
PRIVATE_SETTINGS = frozenset({"token", "qdrant_api_key", "qdrant_url"})


class _WorkerSettingsBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def settings(self) -> Settings:
        """The worker's Settings: these values, the private ones unset, no environment
        read (the values were resolved and validated by the process that sent them)."""
        return Settings.model_construct(**dict(self))


#: The Settings a worker process or a Ray task or actor gets (:meth:`Settings.for_workers`):
#: Settings' own fields and bounds less :data:`PRIVATE_SETTINGS`. Before it, workers were sent
#: ``settings.model_dump_json()``, which masks a token as ``'**********'``; re-validated on the
#: other side it failed, and with SHOTSEEK_TOKEN set a folder indexed nothing.
WorkerSettings = create_model(
    "WorkerSettings",
    __base__=_WorkerSettingsBase,
    __doc__="Settings less the private ones, for worker processes and Ray (see for_workers).",
    **{  # type: ignore[call-overload]
        name: (field.annotation, field)
        for name, field in Settings.model_fields.items()
        if name not in PRIVATE_SETTINGS
    },
)
