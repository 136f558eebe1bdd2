"""Search latency through the MCP server when it is busy and when it has been idle.

    uv run python -m bench.bench_query_latency [-n 50] [--gap 1.0] [--model ...] [--pretrained ...]

An in-memory MCP client indexes the standard generated video, then calls ``search_shots`` ``n``
times back to back ("busy") and ``n`` times each after ``--gap`` seconds of silence ("idle"),
and prints the median and 95th percentile of each. The default model is the tiny CLIP fixture,
whose text encoding is so cheap that any start-up cost a query pays after a pause shows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client

from shotseek.pipeline.config import Settings
from shotseek.server.mcp_app import SharedContext, create_server
from tests.kit.footage import standard_footage

TINY_CLIP = f"local-dir:{Path(__file__).resolve().parents[1] / 'tests' / 'kit' / 'tiny_clip'}"


def _summary(ms: list[float]) -> str:
    p95 = sorted(ms)[max(0, round(0.95 * len(ms)) - 1)]
    return f"median {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--gap", type=float, default=1.0, help="Seconds of silence before each.")
    parser.add_argument("--model", default=TINY_CLIP)
    parser.add_argument("--pretrained", default="none")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        standard_footage(root / "media" / "standard.mp4")
        settings = Settings(
            data_dir=root / "data",
            model=args.model,
            pretrained=args.pretrained,
            device="cpu",
            media_roots=str(root / "media"),
        )
        shared = SharedContext(settings)
        server = create_server(shared)
        query = {"text": "a green star", "include_thumbnails": False}

        async def run() -> tuple[list[float], list[float]]:
            async with Client(server) as client:
                await client.call_tool(
                    "index_video", {"path": str(root / "media"), "wait_seconds": 600}
                )
                for _ in range(3):
                    await client.call_tool("search_shots", query)

                async def timed() -> float:
                    started = time.perf_counter()
                    result = await client.call_tool("search_shots", query)
                    assert not result.is_error, result.content
                    return (time.perf_counter() - started) * 1000

                busy = [await timed() for _ in range(args.n)]
                idle = []
                for _ in range(args.n):
                    await anyio.sleep(args.gap)
                    idle.append(await timed())
                return busy, idle

        try:
            busy, idle = anyio.run(run)
        finally:
            shared.close()
    print(f"search_shots through MCP, {args.model.rsplit('/', 1)[-1]}, CPU, n={args.n}")
    print(f"  busy (back to back)        {_summary(busy)}")
    print(f"  idle ({args.gap:g} s before each)   {_summary(idle)}")


if __name__ == "__main__":
    main()
