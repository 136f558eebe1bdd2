"""The gallery's own overhead on a 10,000-shot archive: from the moment the search operation
returns to the first tile painted in Chromium, and until every keyframe in the window is loaded.

    uv run python -m bench.bench_gallery [--shots 10000] [--runs 7] [--chromium /usr/bin/chromium]

The store is filled with random shots (bench_search.fill_random_shots, each with a real JPEG
thumbnail) for the tiny CLIP that ships with the tests, so the search itself is fast and is
timed apart: the gallery's operations run through a wrapper that records when each search
returns. The page is the real one, served by the real gallery app (uvicorn, loopback), driven
by Debian's Chromium through Playwright; "painted" is two animation frames after the first tile
is in the document.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.bench_search import fill_random_shots
from shotseek.pipeline.config import Settings

TINY_CLIP = f"local-dir:{Path(__file__).parents[1] / 'tests' / 'kit' / 'tiny_clip'}"

CLICK_TO_PAINT = """async () => {
  const grid = document.getElementById('grid');
  grid.replaceChildren();
  const t0 = performance.now();
  document.getElementById('go').click();
  const painted = await new Promise((resolve) => {
    const status = document.getElementById('status');
    const watch = new MutationObserver(() => {
      if (status.className === 'error') throw new Error(status.textContent);
      if (!grid.querySelector('.tile')) return;
      watch.disconnect();
      requestAnimationFrame(() => requestAnimationFrame(() => resolve(performance.now())));
    });
    watch.observe(grid, {childList: true});
  });
  // keyframes load lazily: those in the window are the ones a person waits for
  const images = [...grid.querySelectorAll('img.key')]
    .filter((i) => i.getBoundingClientRect().top < window.innerHeight);
  await Promise.all(images.map((i) => i.complete ? null : new Promise((r) => {
    i.addEventListener('load', r); i.addEventListener('error', r);
  })));
  return {t0: performance.timeOrigin + t0, painted: performance.timeOrigin + painted,
          loaded: performance.timeOrigin + performance.now(), tiles: images.length};
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from shotseek.pipeline.encoder import get_encoder
    from shotseek.pipeline.store import ShotStore
    from shotseek.server.gallery import gallery_app
    from shotseek.server.mcp_app import SharedContext, archive_doer

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", model=TINY_CLIP, device="cpu")
        thumb = settings.data_dir / "thumbnails" / "bench" / "key.jpg"
        thumb.parent.mkdir(parents=True)
        noise = np.random.default_rng(1).integers(0, 255, (180, 320, 3), dtype=np.uint8)
        Image.fromarray(noise).save(thumb, quality=85)
        encoder = get_encoder(settings)
        with ShotStore(settings) as store:
            fill_random_shots(store, encoder, args.shots, np.random.default_rng(0), str(thumb))
        shared = SharedContext(settings)
        returned: list[float] = []
        do = archive_doer(shared)

        async def timed(name, request):
            result = await do(name, request)
            if name == "search":
                returned.append(time.time() * 1000)
            return result

        port = _free_port()
        app = gallery_app(settings, timed, None)
        server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        print(f"{args.shots} shots in the store; Chromium {args.chromium}")
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium)
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/")
                page.fill("#q", "a red circle")
                page.click("#filters summary")  # the hit count is among the filters
                for limit in (24, 100, 500):
                    page.fill("#limit", str(limit))
                    page.evaluate(CLICK_TO_PAINT)  # warm: the first search loads the model
                    page.wait_for_timeout(1000)
                    paint, load = [], []
                    for _ in range(args.runs):
                        returned.clear()
                        seen = page.evaluate(CLICK_TO_PAINT)
                        page.wait_for_function(  # the last tiles are in: the next run is clean
                            "n => document.querySelectorAll('#grid .tile').length === n",
                            arg=limit,
                        )
                        paint.append(seen["painted"] - returned[-1])
                        load.append(seen["loaded"] - returned[-1])
                    print(
                        f"{limit:4d} hits: operation returned → first tile painted "
                        f"median {statistics.median(paint):6.1f} ms (min {min(paint):.1f}, "
                        f"max {max(paint):.1f}); → the {seen['tiles']} keyframes in the window "
                        f"loaded "
                        f"median {statistics.median(load):6.1f} ms"
                    )
                browser.close()
        finally:
            server.should_exit = True
            shared.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main()
