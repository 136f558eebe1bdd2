"""The MCP server: every tool in memory, then real stdio and HTTP subprocesses."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import time

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from shotseek.pipeline.config import Settings
from shotseek.server.mcp_app import SharedContext, create_server
from tests.conftest import TINY_CLIP
from tests.kit.footage import Scene, make_footage, standard_footage


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    standard_footage(root / "archive" / "standard.mp4")
    make_footage(
        root / "archive" / "puzzle.mp4", [Scene("red", "circle", 4.0), Scene("blue", "square", 4.0)]
    )
    (root / "archive" / "broken.mp4").write_text("not a video")
    outside = tmp_path_factory.mktemp("outside")
    standard_footage(outside / "secret.mp4")
    (root / "archive" / "escape.mp4").symlink_to(outside / "secret.mp4")
    return root, outside


@pytest.fixture(scope="module")
def server(media, tmp_path_factory):
    root, _ = media
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("mcpdata"),
        model=TINY_CLIP,
        device="cpu",
        media_roots=str(root),
    )
    shared = SharedContext(settings)
    yield create_server(shared)
    shared.close()


def call(server, tool, args=None, **kw):
    async def go():
        async with Client(server) as client:
            return await client.call_tool(tool, args or {}, **kw)

    return anyio.run(go)


@pytest.fixture(scope="module")
def indexed(server, media):
    root, _ = media
    events = []

    async def progress(p, total, message):
        events.append((p, total, message))

    async def go():
        async with Client(server) as client:
            return await client.call_tool(
                "index_video",
                {"path": str(root / "archive"), "wait_seconds": 120},
                progress_callback=progress,
            )

    result = anyio.run(go)
    return result, events


def test_the_tools_are_listed_with_input_and_output_schemas(server):
    async def go():
        async with Client(server) as client:
            return await client.list_tools()

    tools = {t.name: t for t in anyio.run(go).tools}
    assert set(tools) == {
        "index_video",
        "index_status",
        "search_shots",
        "refine_search",
        "list_videos",
        "get_video_structure",
    }
    assert "hits" in tools["search_shots"].output_schema["properties"]
    assert "job_id" in tools["index_video"].output_schema["properties"]
    assert tools["search_shots"].input_schema["properties"]["limit"]["maximum"] == 50
    assert "refine" in tools["search_shots"].description


def test_indexing_reports_progress_and_per_file_results(indexed):
    result, events = indexed
    assert not result.is_error, result.content
    job = result.structured_content
    assert job["state"] == "finished"
    status = {r["path"].rsplit("/", 1)[-1]: r for r in job["results"]}
    assert status["standard.mp4"]["status"] == "indexed"
    assert status["puzzle.mp4"]["status"] == "indexed"
    assert status["broken.mp4"]["status"] == "failed"
    assert "not a video" in status["broken.mp4"]["reason"]
    assert status["escape.mp4"]["status"] == "failed"  # a symlink out of the media root
    assert len(events) >= 4 and events[-1][0] <= events[-1][1]
    assert any("standard.mp4" in m for _, _, m in events)


def test_search_returns_structured_hits_and_thumbnails(server, indexed):
    result = call(server, "search_shots", {"text": "a green star", "limit": 3})
    assert not result.is_error, result.content
    hits = result.structured_content["hits"]
    assert hits[0]["shot"]["start"] == 17.0 and hits[0]["shot"]["start_tc"] == "00:00:17.000"
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 3 and images[0].mime_type == "image/jpeg"
    assert base64.b64decode(images[0].data)[:2] == b"\xff\xd8"
    assert result.structured_content["search_id"] in result.content[0].text


def test_many_hits_come_as_one_contact_sheet(server, indexed):
    result = call(server, "search_shots", {"text": "a red square", "limit": 12})
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 1
    none = call(server, "search_shots", {"text": "a red square", "include_thumbnails": False})
    assert [c.type for c in none.content] == ["text"]


def test_image_search_from_base64(server, indexed, tmp_path):
    from PIL import Image

    still = tmp_path / "still.png"
    Image.fromarray(Scene("blue", "square", 1.0).frame(0.3, 320, 180)).save(still)
    data = base64.b64encode(still.read_bytes()).decode()
    result = call(server, "search_shots", {"image_base64": data, "videos": ["puzzle.mp4"]})
    assert not result.is_error, result.content
    assert result.structured_content["hits"][0]["shot"]["start"] == 4.0


def test_refine_browse_and_structure(server, indexed):
    first = call(server, "search_shots", {"text": "a yellow triangle"}).structured_content
    wrong = first["hits"][0]["shot"]["shot_id"]
    refined = call(server, "refine_search", {"search_id": first["search_id"], "negative": [wrong]})
    assert not refined.is_error, refined.content
    assert wrong not in [h["shot"]["shot_id"] for h in refined.structured_content["hits"]]
    videos = call(server, "list_videos").structured_content["videos"]
    assert sorted(v["file_name"] for v in videos) == ["puzzle.mp4", "standard.mp4"]
    structure = call(server, "get_video_structure", {"video": "standard.mp4"}).structured_content
    assert structure["classes"][0]["scenes"] == [0, 4]
    assert structure["scenes"][1]["shots"][0]["start_tc"] == "00:00:06.000"


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("search_shots", {}, "empty query"),
        ("search_shots", {"text": "x", "videos": ["nope.mp4"]}, "no indexed video matches"),
        ("refine_search", {"search_id": "nope", "negative": ["x"]}, "no search with id"),
        ("get_video_structure", {"video": "nope.mp4"}, "no indexed video matches"),
        ("index_status", {"job_id": "nope"}, "no index job"),
        ("search_shots", {"image_base64": "!!notbase64"}, "not valid base64"),
        ("search_shots", {"text": "x", "limit": 999}, "limit"),
    ],
)
def test_errors_are_tool_errors_the_model_can_act_on(server, indexed, tool, args, message):
    result = call(server, tool, args)
    assert result.is_error
    assert message in result.content[0].text


@pytest.mark.parametrize(
    "path",
    ["../outside/secret.mp4", "archive/../../outside", "/etc/passwd", "archive/escape.mp4"],
)
def test_paths_outside_the_media_roots_are_refused(server, media, path):
    root, outside = media
    path = path.replace("../outside", f"../{outside.name}")
    for tool, args in (
        ("index_video", {"path": path}),
        ("search_shots", {"text": "x", "image": path}),
    ):
        result = call(server, tool, args)
        assert result.is_error and "outside the media roots" in result.content[0].text, path


def test_indexing_runs_in_the_background_and_searches_go_on(server, media, indexed):
    root, _ = media
    make_footage(
        root / "later" / "long.mp4",
        [Scene(c, s, 20.0) for c, s in [("orange", "star"), ("cyan", "circle")]],
    )

    async def go():
        async with Client(server) as client:
            started = await client.call_tool(
                "index_video", {"path": str(root / "later"), "wait_seconds": 0}
            )
            job = started.structured_content
        # that client is gone; the job goes on, and another client searches and polls
        async with Client(server) as client:
            found = await client.call_tool("search_shots", {"text": "a green star"})
            for _ in range(600):
                status = (
                    await client.call_tool("index_status", {"job_id": job["job_id"]})
                ).structured_content
                if status["state"] != "running":
                    break
                await anyio.sleep(0.1)
            return job, found, status

    job, found, status = anyio.run(go)
    assert job["state"] in ("running", "finished") and job["job_id"]
    assert not found.is_error and found.structured_content["hits"]
    assert status["state"] == "finished"
    assert status["results"][0]["status"] == "indexed"


def _env(tmp_path, media_root):
    return {
        **os.environ,
        "SHOTSEEK_DATA_DIR": str(tmp_path / "data"),
        "SHOTSEEK_MODEL": TINY_CLIP,
        "SHOTSEEK_DEVICE": "cpu",
        "SHOTSEEK_MEDIA_ROOTS": str(media_root),
    }


def test_stdio_subprocess_speaks_only_protocol_on_stdout(tmp_path, media):
    root, _ = media
    shutil.copytree(
        root / "archive",
        tmp_path / "m",
        symlinks=True,
        ignore=shutil.ignore_patterns("escape.mp4", "broken.mp4"),
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "shotseek", "serve"], env=_env(tmp_path, tmp_path / "m")
    )

    async def go():
        async with Client(params) as client:
            tools = await client.list_tools()
            indexed = await client.call_tool(
                "index_video", {"path": "puzzle.mp4", "wait_seconds": 120}
            )
            found = await client.call_tool("search_shots", {"text": "a blue square"})
            return tools, indexed, found

    tools, indexed, found = anyio.run(go)
    assert len(tools.tools) == 6
    assert indexed.structured_content["state"] == "finished"
    assert found.structured_content["hits"][0]["shot"]["start"] == 4.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_subprocess_requires_the_bearer_token(tmp_path, media):
    root, _ = media
    port = _free_port()
    env = {**_env(tmp_path, root), "SHOTSEEK_TOKEN": "s3cret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotseek", "serve", "--http", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        for _ in range(300):
            try:
                refused = httpx2.post(url, json={}, timeout=2)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        assert refused.status_code == 401
        wrong = httpx2.post(url, json={}, headers={"Authorization": "Bearer nope"}, timeout=2)
        assert wrong.status_code == 401

        async def go():
            http = httpx2.AsyncClient(headers={"Authorization": "Bearer s3cret"})
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await client.list_tools()

        assert len(anyio.run(go).tools) == 6
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_http_off_loopback_without_a_token_is_refused(tmp_path):
    env = {**_env(tmp_path, tmp_path)}
    env.pop("SHOTSEEK_TOKEN", None)
    proc = subprocess.run(
        [sys.executable, "-m", "shotseek", "serve", "--http", "--host", "0.0.0.0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "without a token" in proc.stderr and "SHOTSEEK_TOKEN" in proc.stderr


def test_the_readme_client_configuration_works_as_written(tmp_path, media):
    """The stdio JSON block of the README, with its two paths filled in, starts a server."""
    import json
    import re
    from pathlib import Path

    root, _ = media
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    block = next(b for b in re.findall(r"```json\n(.*?)```", readme, re.S) if "mcpServers" in b)
    entry = json.loads(block)["mcpServers"]["shotseek"]
    if shutil.which(entry["command"]) is None:
        pytest.skip(f"{entry['command']} is not installed here")
    args = [
        a.replace("/path/to/shotseek", str(repo)).replace("/path/to/footage", str(root))
        for a in entry["args"]
    ]
    params = StdioServerParameters(
        command=entry["command"], args=args, env={**_env(tmp_path, root), **entry.get("env", {})}
    )

    async def go():
        async with Client(params) as client:
            return await client.list_tools()

    assert len(anyio.run(go).tools) == 6


def test_thumbnails_and_structures_are_resources(server, indexed):
    first = call(server, "search_shots", {"text": "a blue circle", "limit": 1})
    shot_id = first.structured_content["hits"][0]["shot"]["shot_id"]

    async def go():
        async with Client(server) as client:
            templates = await client.list_resource_templates()
            thumb = await client.read_resource(f"shotseek://shots/{shot_id}/thumbnail")
            structure = await client.read_resource("shotseek://videos/standard.mp4/structure")
            return templates, thumb, structure

    templates, thumb, structure = anyio.run(go)
    uris = {t.uri_template for t in templates.resource_templates}
    assert uris == {"shotseek://shots/{shot_id}/thumbnail", "shotseek://videos/{video}/structure"}
    [content] = thumb.contents
    assert content.mime_type == "image/jpeg"
    assert base64.b64decode(content.blob)[:2] == b"\xff\xd8"
    import json

    assert json.loads(structure.contents[0].text)["video"]["file_name"] == "standard.mp4"


def test_an_unknown_shot_has_no_thumbnail_resource(server, indexed):
    async def go():
        async with Client(server) as client:
            try:
                await client.read_resource("shotseek://shots/nope/thumbnail")
            except Exception as exc:  # the SDK's protocol error for a failed resource read
                return str(exc)
        return "no error"

    assert "no thumbnail for shot nope" in anyio.run(go)
