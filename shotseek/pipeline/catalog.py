"""What is indexed: the videos, and one video's classes → scenes → shots."""

from __future__ import annotations

from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import configured_model_id
from shotseek.pipeline.models import ClassInfo, SceneInfo, VideoRecord, VideoStructure
from shotseek.pipeline.store import ShotStore


def reader_model(store: ShotStore, settings: Settings) -> str:
    """The model whose shots readers use: the store's only one, or the configured one."""
    return store.pick_model(configured_model_id(settings))


def list_videos(store: ShotStore, settings: Settings) -> list[VideoRecord]:
    return store.list_videos(reader_model(store, settings))


def video_structure(store: ShotStore, settings: Settings, ref: str) -> VideoStructure:
    """One video's hierarchy; ``ref`` is its id (or id prefix), path or file name."""
    model_id = reader_model(store, settings)
    record = store.find_video(model_id, ref)
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
