"""Time from ``tools/call search_shots`` to the reply, with 20,000 shots in the embedded store.

    uv run python -m bench.bench_mcp [--shots 20000] [--calls 50]

The store is filled with random 768-D shots (the size of ViT-L-14 vectors), each with a real
JPEG thumbnail; the query text is embedded by ViT-L-14 with random weights on this machine's CPU
(the cost of a real checkpoint of that architecture). The client is the SDK's in-memory Client,
so the time includes argument validation, the search, the thumbnails (a contact sheet for 10
hits) and result serialisation, but no network.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np
from mcp import Client
from PIL import Image

from bench.bench_search import fill_random_shots
from shotseek.pipeline.config import Settings
from shotseek.pipeline.encoder import get_encoder
from shotseek.server.mcp_app import SharedContext, create_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=20000)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data", model="ViT-L-14", pretrained="none", device="cpu"
        )
        encoder = get_encoder(settings)
        thumb = Path(tmp) / "thumb.jpg"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (270, 480, 3), np.uint8)).save(
            thumb
        )
        shared = SharedContext(settings)
        load = fill_random_shots(
            shared.get().store, encoder, args.shots, np.random.default_rng(1), thumbnail=str(thumb)
        )
        server = create_server(shared)

        async def run() -> list[float]:
            times = []
            async with Client(server) as client:
                await client.call_tool("search_shots", {"text": "warm-up"})
                for i in range(args.calls):
                    t0 = time.perf_counter()
                    result = await client.call_tool(
                        "search_shots", {"text": f"workers digging trenches {i}", "limit": 10}
                    )
                    times.append(1000 * (time.perf_counter() - t0))
                    assert not result.is_error, result.content
            return times

        times = anyio.run(run)
        shared.close()
        print(
            f"tools/call search_shots, {args.shots} shots ({encoder.dim}-D, embedded store, "
            f"stored in {load:.0f}s), {encoder.model_id} text encoding on CPU, 10 hits with a "
            f"contact sheet: median {statistics.median(times):.1f} ms, "
            f"p95 {np.percentile(times, 95):.1f} ms over {args.calls} calls"
        )


if __name__ == "__main__":
    main()
