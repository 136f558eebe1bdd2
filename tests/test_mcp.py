"""The MCP server: every tool in memory, then real stdio and HTTP subprocesses."""

from __future__ import annotations

import base64
import io
import json
import shlex
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
from tests.kit.archive import cli_env
from tests.kit.footage import Scene, make_footage, standard_footage
from tests.kit.ollama_standin import OllamaStandIn


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
def ollama():
    standin = OllamaStandIn()
    url = standin.start()
    yield standin, url
    standin.stop()


@pytest.fixture(scope="module")
def server(media, tmp_path_factory, ollama):
    root, _ = media
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("mcpdata"),
        model=TINY_CLIP,
        device="cpu",
        media_roots=str(root),
        ollama_url=ollama[1],
    )
    shared = SharedContext(settings)
    server = create_server(shared)
    _SHARED[server] = shared
    yield server
    shared.close()


_SHARED: dict = {}  # server → its SharedContext, for tests that reach into the store


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
        "caption_shots",
        "cancel_index",
        "forget_video",
        "export_selects",
        "clip_shots",
    }
    assert tools["forget_video"].annotations.destructive_hint is True
    assert tools["cancel_index"].annotations.destructive_hint is False
    assert "hits" in tools["search_shots"].output_schema["properties"]
    assert "job_id" in tools["index_video"].output_schema["properties"]
    assert tools["search_shots"].input_schema["properties"]["limit"]["maximum"] == 50
    assert "refine" in tools["search_shots"].description


def test_the_vlm_reranks_explains_and_captions_through_mcp(server, indexed, ollama):
    standin, _ = ollama
    before = len(standin.chats)
    result = call(server, "search_shots", {"text": "a red circle", "limit": 3, "rerank": 3})
    assert not result.is_error, result.content
    hits = result.structured_content["hits"]
    assert len(standin.chats) == before + 3
    assert all("relevance" in h and "match" in h and h["explanation"] for h in hits)
    matches = [h["match"] for h in hits]
    assert matches == sorted(matches, reverse=True)
    assert "VLM:" in result.content[0].text
    ids = [h["shot_id"] for h in hits]
    captions = call(server, "caption_shots", {"shot_ids": ids})
    assert not captions.is_error, captions.content
    made = captions.structured_content["captions"]
    assert [c["shot_id"] for c in made] == ids and all(c["caption"] for c in made)
    again = call(server, "search_shots", {"text": "red shape", "mode": "caption", "limit": 5})
    found = {h["shot_id"] for h in again.structured_content["hits"]}
    red = {c["shot_id"] for c in made if "red" in c["caption"]}
    assert red and red <= found and all(h["caption"] for h in again.structured_content["hits"])


def test_the_prompts_are_listed_and_render_the_request(server):
    async def go():
        async with Client(server) as client:
            listed = await client.list_prompts()
            got = await client.get_prompt("find-footage", {"request": "trains at night"})
            return listed, got

    listed, got = anyio.run(go)
    prompts = {p.name: p for p in listed.prompts}
    assert set(prompts) == {"find-footage", "compare-search"}
    for p in prompts.values():
        assert [(a.name, a.required) for a in p.arguments] == [("request", True)]
    text = got.messages[0].content.text
    assert "trains at night" in text and "refine_search" in text


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
    assert hits[0]["start"] == 17.0 and "00:00:17.000" in result.content[0].text
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
    assert result.structured_content["hits"][0]["start"] == 4.0


def test_refine_browse_and_structure(server, indexed):
    first = call(server, "search_shots", {"text": "a yellow triangle"}).structured_content
    wrong = first["hits"][0]["shot_id"]
    refined = call(server, "refine_search", {"search_id": first["search_id"], "negative": [wrong]})
    assert not refined.is_error, refined.content
    assert wrong not in [h["shot_id"] for h in refined.structured_content["hits"]]
    videos = call(server, "list_videos").structured_content["videos"]
    assert sorted(v["path"].rsplit("/", 1)[1] for v in videos) == ["puzzle.mp4", "standard.mp4"]
    structure = call(server, "get_video_structure", {"video": "standard.mp4"}).structured_content
    assert structure["classes"][0]["scenes"] == 2  # scenes 0 and 4: the class recurs
    assert [s["start"] for s in structure["shots"] if s["scene"] == 1][0] == 6.0


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


def test_indexing_runs_in_the_background_and_searches_go_on(server, media, indexed, monkeypatch):
    """The job is held inside its sampling stage while another client searches: the search
    answers while the job is provably running, then the job finishes."""
    import threading

    from shotseek.pipeline import index as index_module

    root, _ = media
    make_footage(root / "later" / "long.mp4", [Scene("orange", "star", 6.0)])
    entered, gate = threading.Event(), threading.Event()
    original = index_module.embed_frames

    def held(*args, **kwargs):
        entered.set()
        assert gate.wait(120)
        return original(*args, **kwargs)

    monkeypatch.setattr(index_module, "embed_frames", held)

    async def go():
        async with Client(server) as client:
            started = await client.call_tool(
                "index_video", {"path": str(root / "later"), "wait_seconds": 0}
            )
            job = started.structured_content
        assert await anyio.to_thread.run_sync(entered.wait, 120)
        # that client is gone; the job is mid-run, and another client searches and polls
        async with Client(server) as client:
            found = await client.call_tool("search_shots", {"text": "a green star"})
            during = (
                await client.call_tool("index_status", {"job_id": job["job_id"]})
            ).structured_content
            gate.set()
            for _ in range(600):
                status = (
                    await client.call_tool("index_status", {"job_id": job["job_id"]})
                ).structured_content
                if status["state"] not in ("queued", "listing", "running"):
                    break
                await anyio.sleep(0.1)
            return job, found, during, status

    job, found, during, status = anyio.run(go)
    assert job["job_id"]
    assert not found.is_error and found.structured_content["hits"]
    assert during["state"] == "running" and during.get("indexed", 0) == 0
    assert "long.mp4" in during["now"]
    assert status["state"] == "finished"
    assert status["results"][0]["status"] == "indexed"


def _env(tmp_path, media_root):
    return cli_env(tmp_path / "data", media_roots=str(media_root))


def test_stdio_subprocess_speaks_only_protocol_on_stdout(tmp_path, media):
    root, _ = media
    shutil.copytree(
        root / "archive",
        tmp_path / "m",
        symlinks=True,
        ignore=shutil.ignore_patterns("escape.mp4", "broken.mp4"),
    )
    # Everything the server writes to stdout is kept as well (a client drops lines that are
    # not JSON-RPC without a word): each line must be a JSON message.
    kept = tmp_path / "stdout.jsonl"
    server = f"{shlex.quote(sys.executable)} -m shotseek serve | tee {shlex.quote(str(kept))}"
    params = StdioServerParameters(
        command="sh", args=["-c", server], env=_env(tmp_path, tmp_path / "m")
    )

    async def go():
        async with Client(params) as client:
            tools = await client.list_tools()
            indexed = await client.call_tool(
                "index_video", {"path": "puzzle.mp4", "wait_seconds": 120}
            )
            found = await client.call_tool("search_shots", {"text": "a blue square"})
            # the folder: the file left is decoded by a worker process the server starts
            folder = await client.call_tool("index_video", {"path": ".", "wait_seconds": 120})
            return tools, indexed, found, folder

    tools, indexed, found, folder = anyio.run(go)
    assert len(tools.tools) == 11
    assert indexed.structured_content["state"] == "finished"
    assert found.structured_content["hits"][0]["start"] == 4.0
    assert folder.structured_content["state"] == "finished"
    status = {
        r["path"].rsplit("/", 1)[-1]: r["status"] for r in folder.structured_content["results"]
    }
    assert status == {"puzzle.mp4": "skipped", "standard.mp4": "indexed"}
    lines = kept.read_text().splitlines()
    assert len(lines) >= 4
    for line in lines:
        assert json.loads(line)["jsonrpc"] == "2.0", line


def _serve_once(env: dict, *args: str) -> subprocess.CompletedProcess:
    """`shotseek serve ARGS` run to its end (these servers are expected to refuse to start)."""
    return subprocess.run(
        [sys.executable, "-m", "shotseek", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_subprocess_requires_the_bearer_token(tmp_path, media):
    root, _ = media
    port = _free_port()
    # as a secrets file or `echo` gives it: a newline after it (once accepted at start, after
    # which no request could match it)
    env = {**_env(tmp_path, root), "SHOTSEEK_TOKEN": "  s3cret-s3cret-s3cret\n"}
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
            # the scheme name is case-insensitive (RFC 6750)
            http = httpx2.AsyncClient(headers={"Authorization": "bearer s3cret-s3cret-s3cret"})
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await client.list_tools()

        assert len(anyio.run(go).tools) == 11
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_http_off_loopback_without_a_token_is_refused(tmp_path):
    env = {**_env(tmp_path, tmp_path)}
    env.pop("SHOTSEEK_TOKEN", None)
    proc = _serve_once(env, "--http", "--host", "0.0.0.0")
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

    assert len(anyio.run(go).tools) == 11


def test_thumbnails_and_structures_are_resources(server, indexed):
    first = call(server, "search_shots", {"text": "a blue circle", "limit": 1})
    shot_id = first.structured_content["hits"][0]["shot_id"]

    async def go():
        async with Client(server) as client:
            templates = await client.list_resource_templates()
            thumb = await client.read_resource(f"shotseek://shots/{shot_id}/thumbnail")
            structure = await client.read_resource("shotseek://videos/standard.mp4/structure")
            return templates, thumb, structure

    templates, thumb, structure = anyio.run(go)
    uris = {t.uri_template for t in templates.resource_templates}
    assert uris == {
        "shotseek://shots/{shot_id}/thumbnail",
        "shotseek://videos/{video}/structure",
        "shotseek://exports/{name}",
        "shotseek://clips/{name}",
    }
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


def test_an_agent_exports_a_search_and_reads_the_file_back(server, indexed):
    """export_selects writes into the data directory (never where a client says) and answers
    resource links; the EDL read through them holds the hits on the file's own frames."""
    import pycmx

    from shotseek.pipeline.timecode import smpte_frames

    found = call(server, "search_shots", {"text": "a red circle", "limit": 3})
    hits = found.structured_content["hits"]
    assert all(h["source_tc"] for h in hits)
    done = call(
        server,
        "export_selects",
        {"format": "edl", "search_id": found.structured_content["search_id"], "handles": "0"},
    )
    assert not done.is_error, done.content
    [uri] = done.structured_content["files"]
    assert uri.startswith("shotseek://exports/") and done.structured_content["clips"] == 3
    assert [c.uri for c in done.content if c.type == "resource_link"] == [uri]

    async def read(name):
        async with Client(server) as client:
            try:
                return (await client.read_resource(name)).contents[0].text
            except Exception as exc:
                return f"error: {exc}"

    text = anyio.run(read, uri)
    edits = [e for ev in pycmx.parse_cmx3600(io.StringIO(text)).events for e in ev.edits]
    assert [e.source_in for e in edits] == [h["source_tc"] for h in hits]
    assert [smpte_frames(e.source_out, 10) > smpte_frames(e.source_in, 10) for e in edits] == [
        True
    ] * 3
    for hostile in ("../../etc/passwd", "..%2F..%2Fsecret", ".hidden"):
        assert anyio.run(read, f"shotseek://exports/{hostile}").startswith("error")
    refused = call(server, "export_selects", {"format": "edl", "search_id": "nope"})
    assert refused.is_error and "no search with id" in refused.content[0].text
    unknown = call(
        server, "export_selects", {"format": "edl", "search_id": "x", "output": "/tmp/x"}
    )
    assert unknown.is_error


# -- hardening: each test below failed before its fix -------------------------------------------


def _tools(server):
    async def go():
        async with Client(server) as client:
            return client.server_info, (await client.list_tools()).tools

    init, tools = anyio.run(go)
    return init, {t.name: t for t in tools}


#: (readOnlyHint, destructiveHint, idempotentHint, openWorldHint) of each tool: what only reads,
#: what replaces or removes data (index_video with force replaces shot ids), what reaches
#: another service (the VLM). Once search_shots said idempotentHint true: an update keyed
#: "idempotentHint" instead of the model's field name changed nothing.
ANNOTATIONS = {
    "index_video": (False, True, True, False),
    "index_status": (True, None, True, False),
    "cancel_index": (False, False, True, False),
    "forget_video": (False, True, True, False),
    "search_shots": (True, None, False, True),
    "refine_search": (True, None, False, True),
    "list_videos": (True, None, True, False),
    "get_video_structure": (True, None, True, False),
    "caption_shots": (False, False, True, True),
    "export_selects": (False, False, True, False),
    "clip_shots": (False, False, True, False),
}


def test_annotations_say_what_each_tool_does(server):
    _, tools = _tools(server)
    seen = {
        name: (
            t.annotations.read_only_hint,
            t.annotations.destructive_hint,
            t.annotations.idempotent_hint,
            t.annotations.open_world_hint,
        )
        for name, t in tools.items()
    }
    assert seen == ANNOTATIONS


def test_the_tool_list_costs_a_chat_model_little(server):
    """Every byte of tools/list is paid in every conversation: under 12,000 characters (it was
    39,937: output schemas of 4-7 KB a tool, the hit schema written out twice)."""

    async def go():
        async with Client(server) as client:
            return await client.list_tools()

    listed = anyio.run(go)
    size = len(json.dumps(listed.model_dump(by_alias=True, exclude_none=True, mode="json")))
    print(f"tools/list: {size} characters, {len(listed.tools)} tools")
    assert size < 12_000, size
    # what an agent chains on is still said: ids to refine, pages, jobs
    text = json.dumps([t.model_dump(by_alias=True, mode="json") for t in listed.tools])
    for needed in ("search_id", "next_cursor", "job_id", "shot_id", "no_good_match", "rerank"):
        assert needed in text, needed


def test_tool_schemas_are_strict_complete_and_annotated(server):
    init, tools = _tools(server)
    assert init.version and init.version != "0+unknown"
    for tool in tools.values():
        assert tool.title and not tool.description.startswith((" ", "\n"))
        assert "\n    " not in tool.description, tool.name
        assert tool.input_schema.get("additionalProperties") is False, tool.name
    for reader in ("list_videos", "get_video_structure", "index_status", "search_shots"):
        assert tools[reader].annotations.read_only_hint is True
    assert tools["index_video"].annotations.read_only_hint is False
    hit = tools["search_shots"].output_schema["properties"]["hits"]["items"]["properties"]
    assert {"shot_id", "path", "start", "end", "score", "caption"} <= set(hit)
    assert tools["search_shots"].input_schema["properties"]["limit"]["maximum"] == 50


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"text": "x", "limit": "5"}, "limit"),
        ({"text": "x", "limit": True}, "limit"),
        ({"text": "x", "colour": "red"}, "colour"),
        ({"text": "x" * 5000}, "at most 2000 characters"),
        ({"text": "x", "videos": ["a"] * 101}, "at most 100 items"),
        ({"text": "x", "image": "still\x00.png"}, "control character"),
    ],
)
def test_bad_arguments_are_refused_not_coerced(server, indexed, args, message):
    result = call(server, "search_shots", args)
    assert result.is_error and message in result.content[0].text, result.content[0].text


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("index_video", {"path": ""}, "at least 1 character"),
        ("index_video", {"path": "a" * 300 + ".mp4"}, "at most 255 bytes"),
        ("get_video_structure", {"video": "standard\x00.mp4"}, "control character"),
        ("refine_search", {"search_id": "x" * 5000, "negative": ["a"]}, "at most 4096"),
        ("refine_search", {"search_id": "abc", "negative": ["\x00"]}, "control character"),
    ],
)
def test_hostile_strings_get_a_clear_tool_error(server, indexed, tool, args, message):
    result = call(server, tool, args)
    text = result.content[0].text
    assert result.is_error and message in text, text
    assert text.rstrip() != f"Error executing tool {tool}"


def test_line_wrapped_base64_is_accepted(server, indexed, tmp_path):
    import textwrap

    from PIL import Image

    still = tmp_path / "still.png"
    Image.fromarray(Scene("blue", "square", 1.0).frame(0.3, 320, 180)).save(still)
    data = "\n".join(textwrap.wrap(base64.b64encode(still.read_bytes()).decode(), 76))
    result = call(server, "search_shots", {"image_base64": data, "videos": ["puzzle.mp4"]})
    assert not result.is_error, result.content
    assert result.structured_content["hits"][0]["start"] == 4.0


def test_progress_values_strictly_increase(indexed):
    _, events = indexed
    values = [p for p, _, _ in events]
    assert values == sorted(set(values)), values


def test_one_rule_for_relative_paths(server, indexed):
    structure = call(server, "get_video_structure", {"video": "archive/standard.mp4"})
    assert not structure.is_error, structure.content
    assert structure.structured_content["path"].endswith("/standard.mp4")
    found = call(server, "search_shots", {"text": "a red circle", "videos": ["archive/puzzle.mp4"]})
    assert not found.is_error, found.content
    assert {h["path"].rsplit("/", 1)[-1] for h in found.structured_content["hits"]} == {
        "puzzle.mp4"
    }


def test_an_unknown_job_id_reveals_no_other_job(server, indexed):
    result = call(server, "index_status", {"job_id": "nope"})
    text = result.content[0].text
    assert result.is_error and "no index job 'nope'" in text
    job_id = indexed[0].structured_content["job_id"]
    assert job_id not in text


def test_finished_jobs_are_forgotten_after_a_while():
    from shotseek.pipeline.errors import JobNotFoundError
    from shotseek.pipeline.jobs import IndexJobs

    jobs = IndexJobs(store=None, encoder=lambda s: None, keep_seconds=1.0)
    job = jobs.start([], Settings())
    for _ in range(100):
        if jobs.get(job.job_id).state == "finished":
            break
        time.sleep(0.01)
    assert jobs.get(job.job_id).state == "finished"  # kept a while after it ends
    time.sleep(1.1)
    with pytest.raises(JobNotFoundError, match="kept for"):
        jobs.get(job.job_id)


def test_folder_walks_run_off_the_event_loop(server, media, monkeypatch):
    import threading

    from shotseek.pipeline import jobs as jobs_module

    root, _ = media
    walkers = []
    original = jobs_module.expand_paths

    def spy(paths):
        walkers.append(threading.current_thread().name)
        return original(paths)

    monkeypatch.setattr(jobs_module, "expand_paths", spy)
    result = call(server, "index_video", {"path": "archive", "wait_seconds": 60})
    assert not result.is_error, result.content
    assert walkers and all(name.startswith("index-") for name in walkers), walkers


def test_replies_stay_small_for_a_huge_folder(server, media):
    root, _ = media
    many = root / "many"
    many.mkdir()
    for i in range(10_000):
        (many / f"clip{i:05d}.mp4").touch()  # empty: each fails at once
    result = call(server, "index_video", {"path": "many", "wait_seconds": 300})
    job = result.structured_content
    size = len(result.model_dump_json(by_alias=True))
    assert job["state"] == "finished" and job["failed"] == 10_000
    assert size < 64_000, size
    assert "empty" in job["results"][0]["reason"]
    assert result.content[0].text.count("failed:") == 5
    seen = len(job["results"])
    assert job["next_offset"] == seen
    page = call(server, "index_status", {"job_id": job["job_id"], "offset": 9_990})
    assert len(page.structured_content["results"]) == 10
    assert "next_offset" not in page.structured_content  # the last page


def test_thumbnails_are_served_only_from_the_data_dir(server, indexed, media, tmp_path):
    from PIL import Image

    from shotseek.pipeline.catalog import reader_model
    from shotseek.pipeline.store.engine import Where

    root, outside = media
    secret = outside / "secret.jpg"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(secret)
    first = call(server, "search_shots", {"text": "a blue circle", "limit": 1})
    shot_id = first.structured_content["hits"][0]["shot_id"]
    store = _SHARED[server].get().store
    model_id = reader_model(store, store.settings).model_id
    store.engine.set_payload(
        store.shots_collection(model_id),
        {"thumbnail": str(secret)},
        Where(equals={"shot_id": shot_id}),
    )

    async def go():
        async with Client(server) as client:
            try:
                await client.read_resource(f"shotseek://shots/{shot_id}/thumbnail")
            except Exception as exc:
                return str(exc)
        return "served"

    assert "no thumbnail" in anyio.run(go)
    again = call(server, "search_shots", {"text": "a blue circle", "limit": 1})
    assert [c.type for c in again.content] == ["text"]  # no image read from outside


def test_a_locked_store_reaches_the_stdio_client_as_a_clear_error(tmp_path):
    from shotseek.pipeline.store import ShotStore

    env = _env(tmp_path, tmp_path)
    holder = ShotStore(Settings(data_dir=tmp_path / "data"))  # another process's role
    try:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "shotseek", "serve"], env=env
        )

        async def go():
            async with Client(params) as client:
                return await client.call_tool("list_videos", {})

        result = anyio.run(go)
        assert result.is_error
        assert "in use by another shotseek process" in result.content[0].text

        http = _serve_once(env, "--http", "--port", str(_free_port()))
        assert http.returncode == 2
        assert "in use by another shotseek process" in http.stderr
        assert "Traceback" not in http.stderr
    finally:
        holder.close()


def test_loopback_binds_check_host_and_origin(tmp_path):
    """DNS rebinding: any loopback address, token or not, refuses a foreign Host or Origin."""
    port = _free_port()
    env = _env(tmp_path, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotseek", "serve", "--http", "--host", "127.0.0.2"]
        + ["--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.2:{port}/mcp"
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Accept": "application/json, text/event-stream"}
    try:
        for _ in range(300):
            try:
                httpx2.get(f"http://127.0.0.2:{port}/", timeout=2)
                break
            except httpx2.TransportError:
                time.sleep(0.1)
        foreign = httpx2.post(url, json=body, headers={**headers, "Host": "evil.example"})
        assert foreign.status_code == 421
        origin = httpx2.post(url, json=body, headers={**headers, "Origin": "http://evil.example"})
        assert origin.status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (b"Bearer s3cret-s3cret-s3cret", True),
        (b"bearer s3cret-s3cret-s3cret", True),
        (b"BEARER  s3cret-s3cret-s3cret ", True),
        (b"Bearer s3cret-s3cret-s3cre", False),
        (b"Basic s3cret-s3cret-s3cret", False),
        (b"s3cret-s3cret-s3cret", False),
        (b"Bearer", False),
        (b"", False),
    ],
)
def test_the_bearer_check_reads_the_scheme_in_any_case(header, accepted):
    from shotseek.server.http_auth import BearerTokenMiddleware

    reached, sent = [], []

    async def app(scope, receive, send):
        reached.append(scope)

    async def send(message):
        sent.append(message)

    guard = BearerTokenMiddleware(app, " s3cret-s3cret-s3cret\n")
    scope = {"type": "http", "headers": [(b"authorization", header)] if header else []}
    anyio.run(guard, scope, None, send)
    assert bool(reached) is accepted
    assert (sent[0]["status"] == 401) is (not accepted) if sent else accepted


@pytest.mark.parametrize("token", ["", "   ", "short-token"])
def test_a_weak_token_is_refused_at_start(tmp_path, token):
    env = {**_env(tmp_path, tmp_path), "SHOTSEEK_TOKEN": token}
    proc = _serve_once(env, "--http")
    assert proc.returncode == 2
    assert "token" in proc.stderr and "at least 16 characters" in proc.stderr
