"""The shot store: one interface (:class:`ShotStore`), two engines.

* :mod:`.edge` — Qdrant Edge, in this process, in ``<data dir>/edge`` (the default);
* :mod:`.qdrant` — a Qdrant server through qdrant-client (``SHOTSEEK_QDRANT_URL``).

Each engine module is the only importer of its library. A store written by shotseek before Qdrant
Edge (qdrant-client's local mode, in ``<data dir>/qdrant``) is migrated on first open
(:mod:`.migrate`).
"""

from __future__ import annotations

from shotseek.pipeline.config import Settings
from shotseek.pipeline.store.engine import Engine
from shotseek.pipeline.store.shots import ShotStore

__all__ = ["Engine", "ShotStore", "edge_engine", "open_engine"]


def edge_engine(settings: Settings) -> Engine:
    """The embedded store the settings describe, opened (and locked) as it is, unmigrated."""
    from shotseek.pipeline.store.edge import EdgeEngine

    return EdgeEngine(settings.store_path, hnsw_ef=settings.hnsw_ef, quantize=settings.quantize)


def open_engine(settings: Settings) -> Engine:
    """The engine the settings name: a server with ``qdrant_url``, Qdrant Edge otherwise (an
    older embedded store there is migrated to Edge first)."""
    if settings.qdrant_url:
        from shotseek.pipeline.store.qdrant import QdrantEngine

        key = settings.qdrant_api_key
        return QdrantEngine(
            url=settings.qdrant_url,
            api_key=key.get_secret_value() if key else None,
            hnsw_ef=settings.hnsw_ef,
        )
    engine = edge_engine(settings)
    if settings.legacy_store_path.is_dir():
        from shotseek.pipeline.store.migrate import migrate_legacy

        try:
            migrate_legacy(settings, engine)
        except BaseException:
            engine.close()
            raise
    return engine
