"""What the MCP server costs an agent, and whether one client's heavy calls stall another's.

    uv run python -m bench.bench_mcp_load [--calls 30]

Prints:

* the size of ``tools/list`` (the JSON every conversation pays for before its first question);
* the largest reply of each tool (structured content plus text) on an archive holding a
  2,000-shot video and 150 more videos, thumbnails included;
* ``list_videos`` latency, p50/p95 over ``--calls`` calls from one HTTP session, idle and then
  while a second session (another process) runs ``search_shots`` with 50 hits (a contact sheet)
  and a 20 MB query image, call after call. The criterion (#38): under load within 2x of idle.

The model is the tiny CLIP the tests ship (tests/kit/tiny_clip), so the figures measure the
server, not a model; the server is the real streamable HTTP app under uvicorn, on loopback.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
from pathlib import Path

import anyio
import httpx2
import numpy as np
import uvicorn
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from bench.bench_search import fill_random_shots
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import get_encoder
from shotseek.pipeline.thumbnails import thumbnails_root
from shotseek.server.mcp_app import SharedContext, create_server
from shotseek.server.serving import http_app
from tests.kit.archive import TINY_CLIP
from tests.kit.servers import free_port


def _reply_size(result) -> int:
    return len(result.model_dump_json(by_alias=True, exclude_none=True))


def _percentiles(times: list[float]) -> str:
    return f"p50 {statistics.median(times):.1f} ms, p95 {np.percentile(times, 95):.1f} ms"


def _big_image(megabytes: int) -> str:
    """A PNG of noise of about ``megabytes`` MB, base64 (what an agent pastes)."""
    side = int((megabytes * 2**20 / 3) ** 0.5)
    noise = np.random.default_rng(0).integers(0, 255, (side, side, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG", compress_level=0)
    return base64.b64encode(buffer.getvalue()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", model=TINY_CLIP, device="cpu")
        encoder = get_encoder(settings)
        thumb = thumbnails_root(settings) / "bench" / "thumb.jpg"
        thumb.parent.mkdir(parents=True)
        noise = np.random.default_rng(0).integers(0, 255, (270, 480, 3), np.uint8)
        Image.fromarray(noise).save(thumb)
        shared = SharedContext(settings)
        store = shared.get().store
        rng = np.random.default_rng(1)
        fill_random_shots(store, encoder, 2000, rng, thumbnail=str(thumb), per_video=2000)
        fill_random_shots(store, encoder, 150, rng, thumbnail=str(thumb), per_video=1)
        server = create_server(shared)

        async def sizes() -> None:
            async with Client(server) as client:
                listed = await client.list_tools()
                text = json.dumps(listed.model_dump(by_alias=True, exclude_none=True, mode="json"))
                print(f"tools/list: {len(text):,} characters, {len(listed.tools)} tools")
                found = await client.call_tool(
                    "search_shots", {"text": "a red circle", "limit": 50}
                )
                ids = [h["shot_id"] for h in found.structured_content["hits"]]
                largest = {
                    "search_shots (50 hits, contact sheet)": found,
                    "refine_search (50 hits)": await client.call_tool(
                        "refine_search",
                        {"search_id": found.structured_content["search_id"], "negative": ids[:1]},
                    ),
                    "list_videos (first page of 151)": await client.call_tool("list_videos", {}),
                    "get_video_structure (2,000 shots: first page)": await client.call_tool(
                        "get_video_structure", {"video": "bench000000"}
                    ),
                }
                for name, result in largest.items():
                    assert not result.is_error, result.content
                    structured = len(json.dumps(result.structured_content))
                    print(
                        f"  {name}: {_reply_size(result):,} bytes in all, "
                        f"{structured:,} of structured content"
                    )

        anyio.run(sizes)

        port = free_port()
        app = http_app(server, settings, "127.0.0.1", port)
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        http_server = uvicorn.Server(config)
        threading.Thread(target=http_server.run, daemon=True).start()
        url = f"http://127.0.0.1:{port}/mcp"
        while not http_server.started:
            time.sleep(0.05)
        image = _big_image(20)

        async def measured() -> list[float]:
            times: list[float] = []
            async with Client(streamable_http_client(url, http_client=_http())) as client:
                await client.call_tool("list_videos", {})
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    await client.call_tool("list_videos", {})
                    times.append(1000 * (time.perf_counter() - t0))
                    await anyio.sleep(0.05)
            return times

        def latency(loaded: bool) -> list[float]:
            context = multiprocessing.get_context("spawn")
            stop = context.Event()
            heavy = context.Process(target=_load, args=(url, image, stop), daemon=True)
            if loaded:
                heavy.start()
                time.sleep(5.0)  # the load is under way
            try:
                return anyio.run(measured)
            finally:
                stop.set()
                if loaded:
                    heavy.join(timeout=120)

        idle = latency(False)
        busy = latency(True)
        print(f"list_videos over HTTP, idle: {_percentiles(idle)}")
        print(
            f"list_videos over HTTP, beside 50-hit contact sheets and 20 MB images: "
            f"{_percentiles(busy)}; p50 {statistics.median(busy) / statistics.median(idle):.2f}x "
            f"idle, p95 {np.percentile(busy, 95) / np.percentile(idle, 95):.2f}x"
        )
        http_server.should_exit = True
        shared.close()


def _http() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=600)


def _load(url: str, image: str, stop) -> None:
    """The heavy session, in a process of its own: in the measured process (even on another
    thread) the client's own parsing of 440 KB replies held the GIL and looked like the
    server's stalls."""

    async def run() -> None:
        async with Client(streamable_http_client(url, http_client=_http())) as client:
            while not stop.is_set():
                await client.call_tool("search_shots", {"text": "a red circle", "limit": 50})
                await client.call_tool("search_shots", {"image_base64": image, "limit": 10})

    anyio.run(run)


if __name__ == "__main__":
    main()
