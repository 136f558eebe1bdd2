"""MSR-VTT's 1k-A test split as a `shotseek eval` log: retrieval figures on a standard set.

    uv run python -m bench.msrvtt_log MSRVTT_JSFUSION_test.csv MSRVTT/videos/all \\
        -o msrvtt-1k-a.csv --link-to msrvtt-1k-a/
    uv run shotseek index msrvtt-1k-a/
    uv run shotseek eval msrvtt-1k-a.csv --compare --report msrvtt-1k-a.html

MSR-VTT (Xu et al., CVPR 2016) is 10,000 web clips of 10-30 s with 20 captions each; "1k-A"
(Yu et al., JSFusion, ECCV 2018) is the 1,000-clip, one-caption-a-clip test split that
text-to-video retrieval papers report R@1/5/10 on. Download the videos and the split's CSV
yourself (nothing here fetches them); the CSV has the header ``key,vid_key,video_id,sentence``
and the videos are ``<video_id>.mp4``.

Each line of the log is one caption, answered by any shot of its clip (start 0, end the clip's
duration): shotseek's hit is a shot, the benchmark's unit a clip, so R@K here is "a shot of the
right clip among the first K shots". Papers rank clips (each clip once), so shotseek's figure
is the stricter one: a clip with several matching shots pushes other clips down. Where the
figures go: docs/performance.md.
``--link-to DIR`` makes a folder of symbolic links to the split's clips alone, so that indexing it
indexes the 1,000 test clips and not the 10,000.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

from shotseek.pipeline.errors import ShotseekError
from shotseek.pipeline.timecode import format_timecode
from shotseek.pipeline.video import probe

COLUMNS = ("video_id", "sentence")


def convert(split: Path, videos: Path, output: Path, link_to: Path | None = None) -> dict:
    """Write the log; what was written and what was missing or unreadable."""
    with split.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or any(c not in rows[0] for c in COLUMNS):
        raise SystemExit(f"{split}: expected a header with {', '.join(COLUMNS)} (JSFusion's CSV)")
    written, missing, unreadable = 0, [], []
    if link_to is not None:
        link_to.mkdir(parents=True, exist_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        log = csv.writer(handle)
        log.writerow(["video", "start", "end", "query"])
        for row in rows:
            clip = videos / f"{row['video_id']}.mp4"
            if not clip.is_file():
                missing.append(clip.name)
                continue
            try:
                duration = probe(clip).duration
            except ShotseekError as exc:
                unreadable.append(f"{clip.name}: {exc}")
                continue
            log.writerow(
                [clip.name, format_timecode(0), format_timecode(duration), row["sentence"]]
            )
            written += 1
            if link_to is not None:
                link = link_to / clip.name
                if not link.exists():
                    os.symlink(clip.resolve(), link)
    return {"lines": written, "missing": missing, "unreadable": unreadable}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("split", type=Path, help="MSRVTT_JSFUSION_test.csv")
    parser.add_argument("videos", type=Path, help="the folder of <video_id>.mp4 clips")
    parser.add_argument("-o", "--output", type=Path, default=Path("msrvtt-1k-a.csv"))
    parser.add_argument("--link-to", type=Path, help="a folder of links to the split's clips")
    args = parser.parse_args(argv)
    done = convert(args.split, args.videos, args.output, args.link_to)
    print(f"{done['lines']} log lines written to {args.output}")
    for name in done["missing"][:10]:
        print(f"missing: {name}", file=sys.stderr)
    for reason in done["unreadable"][:10]:
        print(f"unreadable: {reason}", file=sys.stderr)
    skipped = len(done["missing"]) + len(done["unreadable"])
    if skipped:
        print(f"{skipped} clips of the split skipped (missing or unreadable)", file=sys.stderr)
    return 0 if done["lines"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
