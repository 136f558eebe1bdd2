"""Cut clips checked as a viewer sees them: the frame numbers written into the picture of the
first and last frame shown, and the clicks of the sound track (one on each second of the
source) heard where the pictures say they should be."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import anyio
import av
import numpy as np
import pytest
from mcp import Client

from shotseek.pipeline.errors import ExportError
from shotseek.pipeline.export import clip_selects, clips
from shotseek.pipeline.models import SearchQuery
from shotseek.pipeline.search import search
from shotseek.server.mcp_app import SharedContext, create_server
from tests.kit.archive import cli_env, indexed_store, run_cli
from tests.kit.footage import STANDARD_SCENES, make_footage, read_index, with_clicks

RATE = 25


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    media = tmp_path_factory.mktemp("media")
    # a keyframe every 1.6 s: shots start between keyframes
    footage = make_footage(
        work / "plain.mp4", STANDARD_SCENES[:3], barcode=True, rate=Fraction(RATE), keyint=40
    )
    with_clicks(work / "plain.mp4", media / "talk.mp4")
    settings, store = indexed_store(media, tmp_path_factory.mktemp("data"))
    found = search(settings, store, SearchQuery(text="a red square", limit=5))
    mid = [h for h in found.hits if h.shot.start > 0][:2]  # shots that start after frame 0
    yield settings, store, found, mid, footage
    store.close()


def _frames(path: str) -> tuple[list[int], list[float]]:
    with av.open(path) as container:
        stream = container.streams.video[0]
        decoded = list(container.decode(stream))
        return (
            [read_index(f.to_ndarray(format="rgb24")) for f in decoded],
            [float(f.pts * stream.time_base) for f in decoded],
        )


def _clicks(path: str) -> list[float]:
    """When each click starts, in the clip's own seconds."""
    with av.open(path) as container:
        stream = container.streams.audio[0]
        chunks, start = [], None
        for frame in container.decode(stream):
            if start is None:
                start = float(frame.pts * frame.time_base)
            chunks.append(frame.to_ndarray()[0])
        signal = np.abs(np.concatenate(chunks))
    loud = signal > 0.3
    onsets = np.flatnonzero(loud[1:] & ~loud[:-1]) + 1
    return [start + i / 48000 for i in onsets]


def test_an_exact_clip_shows_the_shots_frames_with_its_sound_in_step(archive, tmp_path):
    settings, store, found, mid, _ = archive
    report = clip_selects(
        settings, store, shot_ids=[mid[0].shot.shot_id], handles="5f", folder=tmp_path
    )
    (made,) = report.clips
    shot = mid[0].shot
    first, end = round(shot.start * RATE) - 5, round(shot.end * RATE) + 5
    numbers, _ = _frames(made.path)
    assert numbers == list(range(first, min(end, 425)))  # every frame, in order, none more
    assert made.mode == "exact" and made.frames == len(numbers) and made.audio
    assert made.start == pytest.approx(first / RATE)
    # a click on each source second: heard at (second - start) in the clip, within 1 ms
    start = first / RATE
    want = [k - start for k in range(int(start) + 1, int(made.end) + 1) if k < made.end]
    heard = _clicks(made.path)
    assert len(heard) >= len(want) > 0
    assert max(abs(h - w) for h, w in zip(heard, want)) < 0.002, (heard, want)


def test_burnt_in_timecode_is_drawn_where_the_picture_is_not_read(archive, tmp_path):
    settings, store, found, mid, _ = archive
    report = clip_selects(
        settings, store, shot_ids=[mid[0].shot.shot_id], burn_timecode=True, folder=tmp_path
    )
    (made,) = report.clips
    with av.open(made.path) as container:
        picture = next(container.decode(video=0)).to_ndarray(format="rgb24")
    corner = picture[:12, :40]
    assert corner.min() < 30 and corner.max() > 220  # white text on a black box
    numbers, _ = _frames(made.path)
    assert numbers[0] == round(mid[0].shot.start * RATE)  # the frame numbers still read


def test_a_fast_clip_copies_packets_and_starts_playback_on_the_shots_frame(archive, tmp_path):
    settings, store, found, mid, _ = archive
    shot = mid[0].shot
    report = clip_selects(settings, store, shot_ids=[shot.shot_id], mode="fast", folder=tmp_path)
    (made,) = report.clips
    numbers, times = _frames(made.path)
    first = round(shot.start * RATE)
    assert numbers[0] == first and times[0] == pytest.approx(0.0, abs=1e-3)  # the edit list
    assert made.start == pytest.approx(shot.start) and made.end >= shot.end - 1e-6
    assert numbers == list(range(first, first + len(numbers)))
    keyframe = _keyframe_before(shot.path, first)
    assert ("edit list" in (made.note or "")) == (keyframe < first)
    assert made.audio and Path(made.path).suffix == ".mp4"
    # the same cut from a Matroska copy (no edit lists) starts at its keyframe, and says so
    mkv = tmp_path / "copy.mkv"
    with av.open(shot.path) as source, av.open(str(mkv), "w") as out:
        copies = {s.index: out.add_stream_from_template(s) for s in source.streams}
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    from shotseek.pipeline.export import gather

    got = gather(settings, store, shot_ids=[shot.shot_id])
    select = got.selects[0].model_copy(update={"path": str(mkv)})
    cut = clips.cut_fast(select, tmp_path / "cut.mkv")
    numbers, _ = _frames(cut.path)
    keyframe = _keyframe_before(str(mkv), first)  # Matroska flags x264's scene-cut I-frames
    assert numbers[0] == keyframe and cut.start == pytest.approx(keyframe / RATE)
    assert (cut.note or "").startswith("starts at the keyframe") == (keyframe < first)


def _keyframe_before(path: str, frame: int) -> int:
    """The frame number of the last keyframe at or before ``frame`` (x264 puts them every
    40 frames here, and on scene cuts)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        base = stream.start_time or 0
        keys = [
            round(float((p.pts - base) * stream.time_base) * RATE)
            for p in container.demux(stream)
            if p.pts is not None and p.is_keyframe
        ]
    return max(k for k in keys if k <= frame)


def test_a_reel_holds_the_shots_one_after_another(archive, tmp_path):
    settings, store, found, mid, _ = archive
    report = clip_selects(
        settings, store, search_id=found.search_id, top=3, reel=True, folder=tmp_path
    )
    (made,) = report.clips
    numbers, _ = _frames(made.path)
    expected = [
        n
        for h in found.hits[:3]
        for n in range(round(h.shot.start * RATE), round(h.shot.end * RATE))
    ]
    assert numbers == expected and made.frames == len(expected)
    assert Path(made.path).name == f"{found.search_id}-reel.mp4"


def test_bad_requests_are_refused_and_a_failed_cut_leaves_no_half_file(
    archive, tmp_path, monkeypatch
):
    settings, store, found, mid, _ = archive
    with pytest.raises(ExportError, match="drop --fast"):
        clip_selects(settings, store, search_id=found.search_id, reel=True, mode="fast")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ExportError, match="is a file"):
        clip_selects(settings, store, search_id=found.search_id, folder=a_file)
    calls = []
    real = clips.cut_exact

    def breaks_on_the_second(select, target, **kw):
        calls.append(target)
        if len(calls) == 2:
            target.write_bytes(b"half a clip")
            raise OSError(28, "No space left on device")
        return real(select, target, **kw)

    monkeypatch.setattr(clips, "cut_exact", breaks_on_the_second)
    out = tmp_path / "out"
    with pytest.raises(ExportError, match="No space left"):
        clip_selects(settings, store, search_id=found.search_id, top=3, folder=out)
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 1 and names[0].startswith("001-") and not names[0].startswith(".")


def test_an_agent_cuts_clips_and_reads_them_as_resources(archive):
    settings, store, found, mid, _ = archive
    store.close()  # the MCP server opens the store itself
    shared = SharedContext(settings)
    server = create_server(shared)

    async def go():
        async with Client(server) as client:
            done = await client.call_tool(
                "clip_shots", {"search_id": found.search_id, "burn_timecode": True}
            )
            uris = done.structured_content["files"]
            first = await client.read_resource(uris[0])
            escaped = []
            for hostile in ("..%2F..%2Fedge", ".hidden", "nope.mp4"):
                try:
                    await client.read_resource(f"shotseek://clips/{hostile}")
                    escaped.append("read")
                except Exception as exc:
                    escaped.append(str(exc))
            return done, uris, first, escaped

    try:
        done, uris, first, escaped = anyio.run(go)
    finally:
        shared.close()
    assert not done.is_error and len(uris) == len(found.hits)
    assert all(u.startswith("shotseek://clips/") for u in uris)
    import base64

    blob = base64.b64decode(first.contents[0].blob)
    assert blob[4:8] == b"ftyp"  # an MP4
    assert "read" not in escaped and "no file named '.hidden'" in escaped[1]
    clipped = list(settings.clips_dir.iterdir())
    assert len(clipped) == len(found.hits)
    env = cli_env(settings.data_dir)
    cli = run_cli(
        "clip", found.search_id, "--top", "1", "--fast", "-o", str(settings.data_dir / "c"), env=env
    )
    assert cli.returncode == 0, cli.stderr
    assert Path(cli.stdout.strip()).is_file()


def test_a_portrait_phone_file_is_cut_upright(archive, tmp_path):
    """A phone stores a portrait picture on its side with a rotation to display it; an exact
    clip shows it as displayed (upright, the frame numbers readable once turned back)."""
    settings, store, found, mid, footage = archive
    from shotseek.pipeline.export import gather
    from shotseek.pipeline.video import probe

    turned = tmp_path / "portrait.mp4"
    make_footage(turned, STANDARD_SCENES[:3], barcode=True, rate=Fraction(RATE), rotation=90)
    info = probe(turned)
    assert (info.width, info.height) == (180, 320)
    shot = mid[0].shot
    select = gather(settings, store, shot_ids=[shot.shot_id]).selects[0]
    select = select.model_copy(update={"path": str(turned), "width": 180, "height": 320})
    made = clips.cut_exact(select, tmp_path / "upright.mp4")
    with av.open(made.path) as container:
        frame = next(container.decode(video=0))
        picture = frame.to_ndarray(format="rgb24")
    assert picture.shape[:2] == (320, 180)  # upright: taller than wide
    assert read_index(np.ascontiguousarray(np.rot90(picture, k=-1))) == round(shot.start * RATE)
