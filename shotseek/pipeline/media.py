"""Media the pipeline is handed from outside: the video files a list of files and folders names,
confinement of paths to the media roots (the MCP server opens nothing else) and query images
(checked, decoded small, freed at once)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from shotseek.pipeline.config import (
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_REF_CHARS,
    QUERY_IMAGE_SIDE,
)
from shotseek.pipeline.errors import MediaAccessError, QueryError

#: File name endings of the videos looked for in folders.
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .wmv .flv .mpg .mpeg .m2v .ts .mts .m2ts .mxf .3gp .ogv "
    ".dv .vob".split()
)


#: Bytes read at each of a file's start, middle and end to make its content id.
_HASH_CHUNK = 1 << 20


def content_id(path: Path) -> str:
    """A video's id: a hash of its size and of 1 MiB at its start, middle and end.

    Reading three chunks keeps this instant on multi-gigabyte files while still telling apart
    any two real videos; moving or renaming a file keeps its id.
    """
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        for offset in sorted({0, max(0, size // 2 - _HASH_CHUNK // 2), max(0, size - _HASH_CHUNK)}):
            fh.seek(offset)
            digest.update(fh.read(_HASH_CHUNK))
    return digest.hexdigest()[:20]


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, plus the videos found in folders (recursively), each once, in order."""
    seen: set[Path] = set()
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in VIDEO_EXTENSIONS
                and not p.name.startswith(".")
            )
        else:
            found = [path]
        for p in found:
            key = p.resolve() if p.exists() else p.absolute()
            if key not in seen:  # each file once, however many links lead to it
                seen.add(key)
                out.append(p.absolute())  # as found: a link stays a link, for the caller to judge
    return out


def check_path_text(path: str) -> str:
    """Refuse what cannot be a path before the file system sees it (it would raise a bare
    ValueError or OSError): empty, NUL bytes, over-long names."""
    if not path or not path.strip():
        raise MediaAccessError("the path is empty: give a file or folder under the media roots")
    if "\x00" in path:
        raise MediaAccessError("the path contains a NUL byte; no file name does")
    if len(path) > MAX_REF_CHARS:
        raise MediaAccessError(
            f"the path is {len(path)} characters long; the limit is {MAX_REF_CHARS}"
        )
    long_part = next((p for p in Path(path).parts if len(p.encode()) > 255), None)
    if long_part is not None:
        raise MediaAccessError(
            f"the path has a {len(long_part.encode())}-byte component ({long_part[:40]}…); "
            "file names are at most 255 bytes"
        )
    return path


def confine(path: str, roots: list[Path]) -> Path:
    """The real path of ``path`` if it lies inside one of ``roots``; refuse anything else.

    A relative path is taken from the first root under which it exists (the first root when
    it exists under none). ``..`` and symbolic links are resolved before the check, so neither
    can lead outside a root.
    """
    if not roots:
        raise MediaAccessError(
            "no media roots are configured, so the server opens no files: start it with "
            "--media-root /path/to/footage or set SHOTSEEK_MEDIA_ROOTS"
        )
    raw = Path(check_path_text(path)).expanduser()
    if raw.is_absolute():
        candidates = [raw]
    else:
        candidates = [root / raw for root in roots]
        candidates = [c for c in candidates if c.exists()] or candidates[:1]
    real = Path(os.path.realpath(candidates[0]))
    for root in roots:
        if real == root or root in real.parents:
            return real
    listing = ", ".join(str(r) for r in roots)
    raise MediaAccessError(
        f"{path} is outside the media roots ({listing}); the server only opens files under them"
    )


def load_image(image: str | Path | bytes) -> Image.Image:
    """A query image from a path or bytes, as RGB of at most ``QUERY_IMAGE_SIDE`` a side.

    The pixel count is checked from the header before anything is decoded; JPEGs are decoded
    reduced by the decoder itself (``draft``), other formats are reduced right after decoding
    and the full-size pixels are released at once, so a small file that unpacks to a huge image
    costs at most ``MAX_IMAGE_PIXELS`` × 4 bytes for an instant."""
    if isinstance(image, (bytes, bytearray)):
        data, name = bytes(image), "the image data"
    else:
        path = Path(image).expanduser()
        name = str(path)
        if not path.is_file():
            raise QueryError(f"image {name}: no such file")
        if path.stat().st_size > MAX_IMAGE_BYTES:
            raise QueryError(
                f"image {name} is larger than {MAX_IMAGE_BYTES // 2**20} MB; use a smaller still"
            )
        data = path.read_bytes()
    if not data:
        raise QueryError(f"{name} is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise QueryError(f"{name} is larger than {MAX_IMAGE_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():  # the pixel count is checked below, with a clear error
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
        with opened as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise QueryError(
                    f"{name} is {img.width}×{img.height} pixels; the limit is "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels: scale it down first"
                )
            if img.format == "JPEG":
                img.draft("RGB", (QUERY_IMAGE_SIDE, QUERY_IMAGE_SIDE))
            img.thumbnail((QUERY_IMAGE_SIDE, QUERY_IMAGE_SIDE), Image.Resampling.BICUBIC)
            return img.convert("RGB")  # a new, small image; the decoded one is freed on exit
    except UnidentifiedImageError as exc:
        raise QueryError(
            f"{name} is not an image shotseek can read: not a recognised format (use JPEG, "
            "PNG, WebP, BMP, GIF or TIFF)"
        ) from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise QueryError(
            f"{name} is a damaged or unsupported image ({_image_reason(exc)}); save it again as "
            "JPEG or PNG"
        ) from exc


def _image_reason(exc: BaseException) -> str:
    """The decoder's complaint without Python object reprs (``<_io.BytesIO object at 0x…>``)
    and without being cut mid-word."""
    text = re.sub(r"\s*<[^<>]* object at 0x[0-9a-fA-F]+>", "", str(exc)).strip(" :")
    text = text.splitlines()[0] if text else ""
    if len(text) > 200:
        text = text[:200].rsplit(" ", 1)[0] + " …"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
