"""Confinement of file access to the configured media roots (used by the MCP server)."""

from __future__ import annotations

import os
from pathlib import Path

from shotseek.pipeline.errors import ShotseekError


class MediaAccessError(ShotseekError):
    """A path outside the media roots, or no media roots configured."""


def confine(path: str, roots: list[Path]) -> Path:
    """The real path of ``path`` if it lies inside one of ``roots``; refuse anything else.

    Relative paths are taken from the first root. ``..`` and symbolic links are resolved before
    the check, so neither can lead outside a root.
    """
    if not roots:
        raise MediaAccessError(
            "no media roots are configured, so the server opens no files: start it with "
            "--media-root /path/to/footage or set SHOTSEEK_MEDIA_ROOTS"
        )
    raw = Path(path).expanduser()
    candidate = raw if raw.is_absolute() else roots[0] / raw
    real = Path(os.path.realpath(candidate))
    for root in roots:
        if real == root or root in real.parents:
            return real
    listing = ", ".join(str(r) for r in roots)
    raise MediaAccessError(
        f"{path} is outside the media roots ({listing}); the server only opens files under them"
    )
