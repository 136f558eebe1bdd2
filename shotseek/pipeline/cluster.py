"""Indexing on a Ray cluster: the same pipeline, its decoding and embedding spread over machines.

``shotseek index PATH… --ray [ADDRESS]`` (``SHOTSEEK_RAY``) makes the files a Ray Dataset:

1. each file is decoded and sampled by a CPU task into the rows a local worker process makes
   (:func:`~shotseek.pipeline.sampling.sample_rows`: one per image to embed, then one that
   describes the video);
2. a pool of actors, each holding the encoder (one per GPU when the cluster has GPUs, else one
   per node), embeds the images in batches (``map_batches``);
3. the driver collects each video's vectors (and thumbnails) and, once a video is whole,
   analyses and stores it as a local run does
   (:class:`~shotseek.pipeline.parallel.Collector`): the archive is the same.

A file that fails on a worker is reported by name and the others go on; Ray retries the tasks
and restarts the actors of a lost worker. Media paths must be readable under the same path on
every node (shared storage): checked at start. This module is the only one that imports ray,
an optional extra (``shotseek[ray]``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from shotseek.pipeline.config import (
    CPU_BATCH,
    RAY_AUTO,
    RAY_DECODE_CPUS,
    RAY_GPU_ROWS,
    RAY_LOCAL,
    Settings,
    WorkerSettings,
)
from shotseek.pipeline.encoder import ClipEncoder
from shotseek.pipeline.errors import ConfigError
from shotseek.pipeline.models import IndexOutcome, ProgressEvent
from shotseek.pipeline.parallel import Collector, plan_files, work_item
from shotseek.pipeline.sampling import Decoding, row_image, sample_rows, sample_side
from shotseek.pipeline.store import ShotStore

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "indexing on a Ray cluster needs Ray: `uv sync --extra ray` (or `pip install 'shotseek[ray]'`)"
)


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(f"{INSTALL_HINT} ({exc})") from exc
    return ray


def connect(address: str) -> Any:
    """Ray, connected to the cluster at ``address`` ('local': a Ray started in this process;
    'auto': the cluster this machine joined with ``ray start``; ``ray://host:10001``), or to
    the Ray this process already runs."""
    if os.path.exists(address):
        raise ConfigError(
            f"the Ray address (--ray, SHOTSEEK_RAY) is {address!r}, a file or folder: give "
            f"{RAY_AUTO!r}, {RAY_LOCAL!r} or ray://HOST:10001"
        )
    ray = _ray()
    if not ray.is_initialized():
        try:
            ray.init(
                address=None if address == RAY_LOCAL else address,
                log_to_driver=False,  # a worker's output must not reach stdout (MCP stdio)
                logging_level=logging.WARNING,
                include_dashboard=False,
                configure_logging=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot reach the Ray cluster at {address!r}: {exc}. Start one with "
                "`ray start --head` (then `ray start --address HEAD:6379` on each other "
                f"machine), or use --ray {RAY_LOCAL} for a Ray on this machine only"
            ) from exc
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # shotseek reports progress itself
    context.print_on_execution_start = False
    return ray


def check_paths_on_nodes(ray: Any, paths: list[str]) -> None:
    """Raise a ConfigError unless every node of the cluster can read every path."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    def unreadable(candidates: list[str]) -> list[str]:
        return [p for p in candidates if not os.access(p, os.R_OK)]

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    checks = {
        node.get("NodeManagerAddress", node["NodeID"]): unreadable.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
        ).remote(paths)
        for node in nodes
    }
    for where, ref in checks.items():
        missing = ray.get(ref)
        if missing:
            shown = ", ".join(missing[:3]) + (
                f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            )
            raise ConfigError(
                f"the Ray node {where} cannot read {shown}: media must be readable under the "
                "same path on every node (shared storage such as NFS, mounted at the same place)"
            )


class Embedder:
    """An actor of the embedding pool: holds the encoder, embeds batches of image rows."""

    def __init__(self, settings_json: str, model_id: str) -> None:
        import ray
        import torch

        from shotseek.pipeline.encoder import get_encoder

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        torch.set_num_threads(max(1, math.ceil(cpus)))  # Ray's own default rounds down
        self.encoder = get_encoder(WorkerSettings.model_validate_json(settings_json).settings())
        if self.encoder.model_id != model_id:
            raise ConfigError(
                f"a Ray worker loaded {self.encoder.model_id}, not the driver's {model_id}: "
                "give every node the same weights (and the same shotseek and open_clip)"
            )

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        images = batch["row"] >= 0
        vectors = np.zeros((len(images), self.encoder.dim), dtype=np.float32)
        if images.any():
            pictures = [
                row_image(p, h, w)
                for p, h, w in zip(
                    batch["pixels"][images], batch["height"][images], batch["width"][images]
                )
            ]
            vectors[images] = self.encoder.encode_images(pictures)
        return {
            "video": batch["video"],
            "row": batch["row"],
            "time": batch["time"],
            "vector": vectors,
            "thumbnail": batch["thumbnail"],
            "meta": batch["meta"],
        }


def _embedding_pool(ray: Any) -> dict[str, Any]:
    """How many embedding actors, and what each holds: one per GPU when the cluster has GPUs;
    else one per node with all but a quarter of its cores (at least RAY_DECODE_CPUS left for
    decoding; torch runs a thread per core it is given)."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        return {"num_gpus": 1, "concurrency": gpus}
    cores = [float(n["Resources"].get("CPU", 1)) for n in ray.nodes() if n.get("Alive")]
    decoding = max(RAY_DECODE_CPUS, min(cores) / 4)
    return {"num_cpus": max(1.0, min(cores) - decoding), "concurrency": len(cores)}


def index_on_ray(
    files: list[Path],
    settings: Settings,
    *,
    store: ShotStore,
    encoder: ClipEncoder,
    force: bool,
    progress: Callable[[ProgressEvent], None] | None,
    on_result: Callable[[IndexOutcome], None],
) -> None:
    """Index ``files`` with the cluster at ``settings.ray`` doing the decoding and embedding;
    every file's outcome goes to ``on_result`` (in the order files finish)."""
    ray = connect(settings.ray or RAY_LOCAL)
    videos = dict(  # every file probed first: the Dataset is made of them all
        plan_files(
            files, settings, store, encoder, force=force, progress=progress, on_result=on_result
        )
    )
    if not videos:
        return
    check_paths_on_nodes(ray, [str(v.planned.path) for v in videos.values()])

    settings_json = settings.for_workers().model_dump_json()
    items = [work_item(n, v) for n, v in videos.items()]
    pool = _embedding_pool(ray)
    # The driver's model exactly (its 'auto' resolved here: a GPU worker must not pick another)
    device = "cuda" if "num_gpus" in pool else "cpu"
    worker = settings.model_copy(update={**encoder.spec, "device": device})
    # Ray retries a task whose worker died (3 times) and restarts a lost actor, retrying its
    # batches (Ray Data's defaults for map_batches with a class): nothing to ask for here.
    dataset = (
        ray.data.from_items(items, override_num_blocks=len(items))
        .flat_map(
            sample_rows,
            fn_kwargs={
                "settings_json": settings_json,
                "where": "a Ray worker",
                "side": sample_side(settings, encoder),
                # a local run's rule: CPU actors fill the cores as the local workers do
                "decoding": Decoding.for_model(settings, device == "cpu"),
            },
            num_cpus=RAY_DECODE_CPUS,
        )
        .map_batches(
            Embedder,
            fn_constructor_kwargs={
                "settings_json": worker.for_workers().model_dump_json(),
                "model_id": encoder.model_id,
            },
            # a GPU actor splits what it gets into batches its memory holds
            batch_size=settings.batch_size or (RAY_GPU_ROWS if "num_gpus" in pool else CPU_BATCH),
            batch_format="numpy",
            **pool,
        )
    )
    collector = Collector(videos, settings, store, encoder, on_result)
    for video in videos.values():
        video.report("sample", 0.0, 0)
    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
        collector.add(
            zip(
                batch["video"],
                batch["row"],
                batch["time"],
                batch["vector"],
                batch["thumbnail"],
                batch["meta"],
            )
        )
    # cannot happen unless Ray lost rows: said, not hidden
    collector.fail_the_rest("the Ray cluster returned no result for it")
