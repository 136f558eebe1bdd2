"""The readers' view of the store: which model's shots readers (and, for model 'auto', index
runs) use, the videos, and one video's classes → scenes → shots.

"Which model do readers use" is decided here once per request, from one read of the store's
collections: the store's only model, or (when it holds several) the configured one. The query
encoder is then the model rebuilt from what the collection recorded, never another one. Listing
videos (of every model, each with its own) and showing a structure embed nothing, so this module
imports the encoder (and torch) only when a video is indexed with several models and the
configured one must be worked out, or a query needs encoding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shotseek.pipeline.config import AUTO_MODEL, Settings
from shotseek.pipeline.errors import StoreMismatchError, VideoNotFoundError
from shotseek.pipeline.models import (
    ClassInfo,
    IndexedModel,
    SceneInfo,
    SearchIndexState,
    VideoRecord,
    VideoStructure,
)
from shotseek.pipeline.store import ShotStore

if TYPE_CHECKING:
    from shotseek.pipeline.encoder import ClipEncoder
    from shotseek.pipeline.text_graph import TextGraph


def reader_model(store: ShotStore, settings: Settings, model_id: str | None = None) -> IndexedModel:
    """The model whose shots readers use: ``model_id`` when given (a refinement keeps its
    search's model), else the store's only one, else the configured one."""
    known = store.models()
    if model_id is not None:
        if model_id not in known:
            raise VideoNotFoundError(
                f"nothing is indexed with model {model_id} in {store.location} any more"
            )
        return known[model_id]
    if not known:
        raise VideoNotFoundError(
            f"the store at {store.location} is empty: index some footage first "
            "(shotseek index <files or folders>)"
        )
    if len(known) == 1:
        return next(iter(known.values()))
    from shotseek.pipeline.encoder import configured_model_id

    configured = configured_model_id(settings)
    if configured in known:
        return known[configured]
    listing = ", ".join(sorted(known))
    raise StoreMismatchError(
        f"the store holds shots of several models ({listing}) and the configured model "
        f"{configured!r} is not one of them; choose one with --model/--pretrained "
        "(SHOTSEEK_MODEL, SHOTSEEK_PRETRAINED)"
    )


def writer_settings(store: ShotStore, settings: Settings) -> Settings:
    """The settings an index run embeds with. A named model is used as named; with 'auto' (the
    default) a store that holds one model gets that model again, so footage added from another
    machine (a CPU laptop, a GPU server) lands in the same embedding space; an empty store, or
    one with several models, gets the device's default (encoder.device_default)."""
    known = store.models() if settings.model == AUTO_MODEL else {}
    if len(known) != 1:
        return settings
    return settings.model_copy(update=_recorded(next(iter(known.values()))))


def _recorded(model: IndexedModel) -> dict[str, str | None]:
    return {k: model.spec[k] for k in ("model", "pretrained", "checkpoint_tag") if k in model.spec}


def reader_encoder(
    settings: Settings, model: IndexedModel, *, text_only: bool = False
) -> ClipEncoder | TextGraph:
    """The encoder of the model that built the collection: never another one. With
    ``text_only`` (a query without images) and ``settings.text_graph``, the model's text graph
    when one is written (text_graph.py): the same vectors without loading torch."""
    if text_only and settings.text_graph:
        from shotseek.pipeline.text_graph import open_text_graph

        graph = open_text_graph(settings, model.model_id)
        if graph is not None:
            return graph
    from shotseek.pipeline.encoder import get_encoder

    encoder = get_encoder(settings.model_copy(update=_recorded(model)))
    if encoder.model_id != model.model_id:
        raise StoreMismatchError(
            f"the shots were embedded with {model.model_id} but the model loaded for the query "
            f"is {encoder.model_id}; vectors of different models cannot be compared. Index again "
            "with the current model, or restore the weights that built the store"
        )
    return encoder


def list_videos(
    store: ShotStore, settings: Settings, *, every_model: bool = True
) -> list[VideoRecord]:
    """The indexed videos, each with the model it was indexed with: of every model in the store,
    or (``every_model=False``) of the readers' model only."""
    known = store.models()
    if not every_model or not known:  # an empty store: reader_model says to index first
        return store.list_videos(reader_model(store, settings).model_id)
    records = [r for model_id in known for r in store.list_videos(model_id)]
    return sorted(records, key=lambda r: (r.path, r.model_id))


def index_states(store: ShotStore) -> list[SearchIndexState]:
    """How far each model's search index is built."""
    return [store.index_state(model_id) for model_id in sorted(store.models())]


def video_structure(store: ShotStore, settings: Settings, ref: str) -> VideoStructure:
    """One video's hierarchy; ``ref`` is its id (or id prefix), path or file name. A video
    indexed with several models is shown with the readers' model."""
    known = store.models()
    if len(known) <= 1:  # the usual case; an empty store: reader_model says to index first
        model_id = reader_model(store, settings).model_id
        record = store.find_video(model_id, ref)
    else:
        found: dict[str, VideoRecord] = {}
        for model_id in known:
            try:
                found[model_id] = store.find_video(model_id, ref)
            except VideoNotFoundError as exc:
                missing = exc  # the store's own words, if no model has it
        if not found:
            raise missing
        if len(found) == 1:
            model_id, record = next(iter(found.items()))
        else:
            model_id = reader_model(store, settings).model_id
            if model_id not in found:
                raise VideoNotFoundError(f"{ref!r} is not indexed with {model_id}")
            record = found[model_id]
    shots = store.shots_of(model_id, record.video_id)
    scenes: list[SceneInfo] = []
    for shot in shots:
        if not scenes or scenes[-1].index != shot.scene:
            scenes.append(
                SceneInfo(
                    start=shot.start,
                    end=shot.end,
                    index=shot.scene,
                    class_index=shot.class_index,
                    shots=[],
                )
            )
        scene = scenes[-1]
        scenes[-1] = scene.model_copy(update={"end": shot.end, "shots": [*scene.shots, shot]})
    classes: dict[int, ClassInfo] = {}
    for scene in scenes:
        info = classes.setdefault(
            scene.class_index, ClassInfo(index=scene.class_index, scenes=[], seconds=0.0)
        )
        info.scenes.append(scene.index)
        info.seconds = round(info.seconds + scene.duration, 3)
    return VideoStructure(
        video=record, classes=sorted(classes.values(), key=lambda c: c.index), scenes=scenes
    )
