"""Every door with every other: the same operations through the CLI alone, the CLI beside a
running server (its socket), MCP over stdio and MCP over HTTP with a bearer token give the same
answers (hits, scores to 1e-4, structures, counts), with SHOTSEEK_TOKEN set while folders are
indexed and their files decoded by worker processes (once, a token set made every file fail)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.kit.archive import cli_env, run_cli
from tests.kit.footage import Scene, make_footage, standard_footage
from tests.kit.servers import http_server

TOKEN = "a-token-for-every-door-0123456789"
QUERY = "a red circle"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("doors-media")
    standard_footage(root / "standard.mp4")
    make_footage(root / "puzzle.mp4", [Scene("red", "circle", 4.0), Scene("blue", "square", 4.0)])
    return root


def _env(data, media):
    # two decoding processes: the workers' door, with the token set
    return cli_env(data, token=TOKEN, media_roots=str(media), decode_processes="2")


def _hits(result: dict) -> list[tuple]:
    """Hits as plain data: the CLI's (each with its shot) and MCP's compact ones alike."""
    shots = [h.get("shot", h) for h in result["hits"]]
    return [
        (s["path"].rsplit("/", 1)[-1], s["start"], s["end"], h["score"])
        for s, h in zip(shots, result["hits"], strict=True)
    ]


def _videos(records: list[dict]) -> list[tuple]:
    return sorted(
        (v["path"].rsplit("/", 1)[-1], v["n_classes"], v["n_scenes"], v["n_shots"], v["duration"])
        for v in records
    )


def _structure(found: dict) -> list[tuple]:
    """Each shot's span, how it starts and its scene's class: from the CLI's nested structure
    or from MCP's page (shots with their scene's index, the scenes with their class)."""
    if "shots" not in found:
        return [
            (s["start"], s["end"], s["boundary"], scene["class_index"])
            for scene in found["scenes"]
            for s in scene["shots"]
        ]
    assert "next_cursor" not in found  # one page holds this video
    classes = {scene["index"]: scene["class_index"] for scene in found["scenes"]}
    return [(s["start"], s["end"], s["boundary"], classes[s["scene"]]) for s in found["shots"]]


def _rows(text: str) -> list[tuple]:
    """An exported CSV's clips: rank, file, source in and out."""
    return [
        (r["rank"], r["video"], r["source_in"], r["source_out"])
        for r in csv.DictReader(io.StringIO(text))
    ]


def _answers(index, videos, structure, search, refine, export) -> dict:
    """One door's answers, as plain data."""
    first = search()
    worst = first["hits"][-1].get("shot", first["hits"][-1])["shot_id"]
    refined = refine(first["search_id"], worst)
    return {
        "index": sorted(r["status"] for r in index["results"]) if "results" in index else index,
        "videos": _videos(videos()),
        "structure": _structure(structure("standard.mp4")),
        "search": _hits(first),
        "refine": _hits(refined),
        "export": _rows(export(refined["search_id"])),
    }


def _cli(env):
    def run(*args):
        done = run_cli(*args, "--json", env=env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    return run


def _cli_answers(env, media) -> dict:
    run = _cli(env)

    def export(search_id: str) -> str:
        target = Path(env["SHOTSEEK_DATA_DIR"]) / "cut.csv"
        (written,) = run("export", search_id, "-f", "csv", "-o", str(target))["files"]
        return Path(written).read_text()

    return _answers(
        run("index", str(media)),
        lambda: run("videos"),
        lambda video: run("structure", str(media / video)),
        lambda: run("search", QUERY, "--limit", "5"),
        lambda search_id, shot: run("refine", search_id, "--negative", shot),
        export,
    )


async def _mcp_answers(client: Client, media) -> dict:
    async def tool(name, **args):
        result = await client.call_tool(name, args)
        assert not result.is_error, result.content
        return result.structured_content

    index = await tool("index_video", path=str(media), wait_seconds=300)
    assert index["state"] == "finished", index
    videos = (await tool("list_videos"))["videos"]
    structure = await tool("get_video_structure", video="standard.mp4")
    search = await tool("search_shots", text=QUERY, limit=5, include_thumbnails=False)
    worst = search["hits"][-1]["shot_id"]
    refine = await tool(
        "refine_search", search_id=search["search_id"], negative=[worst], include_thumbnails=False
    )
    exported = await tool("export_selects", format="csv", search_id=refine["search_id"])
    (uri,) = exported["files"]
    text = (await client.read_resource(uri)).contents[0].text
    return {
        "index": sorted(r["status"] for r in index["results"]),
        "videos": _videos(videos),
        "structure": _structure(structure),
        "search": _hits(search),
        "refine": _hits(refine),
        "export": _rows(text),
    }


def _same(a: dict, b: dict, doors: str) -> None:
    assert a["index"] == b["index"] == ["indexed", "indexed"], doors
    assert a["videos"] == b["videos"], doors
    assert a["structure"] == b["structure"], doors
    assert a["export"] == b["export"] and len(a["export"]) == len(a["refine"]), doors
    for key in ("search", "refine"):
        assert [h[:3] for h in a[key]] == [h[:3] for h in b[key]], (doors, key)
        for mine, theirs in zip(a[key], b[key], strict=True):
            assert abs(mine[3] - theirs[3]) < 1e-4, (doors, key)


def test_every_door_gives_the_same_answers_with_a_token_set(media, tmp_path):
    answers = {"cli": _cli_answers(_env(tmp_path / "cli", media), media)}

    # MCP over stdio
    env = _env(tmp_path / "stdio", media)
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "shotseek", "serve"], env=env
    )

    async def over_stdio():
        async with Client(params) as client:
            return await _mcp_answers(client, media)

    answers["mcp stdio"] = anyio.run(over_stdio)

    # one HTTP server with a token: the CLI through its socket, then MCP over HTTP
    env = _env(tmp_path / "served", media)
    with http_server(env) as url:
        answers["cli via the server"] = _cli_answers(env, media)

        async def over_http():
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600)
            async with Client(streamable_http_client(url, http_client=http)) as client:
                return await _mcp_answers(client, media)

        served = anyio.run(over_http)
    # the server's store already held both files, indexed through its socket
    assert served["index"] == ["skipped", "skipped"]
    served["index"] = ["indexed", "indexed"]
    answers["mcp http"] = served
    first = answers.pop("cli")
    for door, answer in answers.items():
        _same(first, answer, f"cli alone against {door}")
