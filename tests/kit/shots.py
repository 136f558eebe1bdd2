"""Synthetic index runs for store tests and benchmarks: records, shots and vectors shaped like
real shot embeddings, without decoding or embedding any video."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np

from shotseek.pipeline.models import Shot, VideoRecord, shot_id_for

MODEL = "synthetic-clip"


class StructuredSpace:
    """Unit vectors like real shot embeddings: a mixture of clusters in a ``latent``-D space,
    projected to ``dim`` and a little noise added (their neighbourhoods are not near-ties, as
    they are for noise-like vectors). Samples drawn in pieces come from one distribution."""

    def __init__(
        self, dim: int, rng: np.random.Generator, *, latent: int = 32, clusters: int = 200
    ) -> None:
        self.dim = dim
        self.centres = rng.normal(size=(clusters, latent))
        self.projection = rng.normal(size=(latent, dim)) / np.sqrt(latent)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        clusters, latent = self.centres.shape
        points = self.centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, latent))
        vectors = (points @ self.projection).astype(np.float32)
        vectors += 0.05 * rng.standard_normal(size=(n, self.dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


def structured_vectors(
    n: int, dim: int, rng: np.random.Generator, *, latent: int = 32, clusters: int = 200
) -> np.ndarray:
    """``n`` vectors of a new :class:`StructuredSpace`."""
    return StructuredSpace(dim, rng, latent=latent, clusters=clusters).sample(n, rng)


def synthetic_run(
    video_id: str,
    vectors: np.ndarray,
    *,
    run_id: str | None = None,
    model_id: str = MODEL,
    shot_seconds: float = 2.0,
    path: str | None = None,
) -> tuple[VideoRecord, list[Shot]]:
    """A video record and its shots, one shot per vector, back to back."""
    run_id = run_id or uuid.uuid4().hex
    path = path or f"/footage/{video_id}.mp4"
    shots = [
        Shot(
            shot_id=shot_id_for(video_id, run_id, i),
            video_id=video_id,
            path=path,
            index=i,
            scene=i // 4,
            class_index=i % 3,
            start=i * shot_seconds,
            end=(i + 1) * shot_seconds,
            keyframe_time=(i + 0.5) * shot_seconds,
            frame_count=4,
            boundary="start" if i == 0 else "cut",
        )
        for i in range(len(vectors))
    ]
    record = VideoRecord(
        video_id=video_id,
        path=path,
        file_name=path.rsplit("/", 1)[-1],
        size_bytes=1000,
        duration=len(vectors) * shot_seconds,
        width=320,
        height=180,
        fps_sampled=2.0,
        frame_count=4 * len(vectors),
        model_id=model_id,
        settings_key="synthetic",
        run_id=run_id,
        indexed_at=datetime.now(UTC),
        n_classes=3,
        n_scenes=(len(vectors) + 3) // 4,
        n_shots=len(vectors),
    )
    return record, shots
