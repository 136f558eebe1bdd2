"""Query images and paths handed in from outside: checked before anything is decoded."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from shotseek.pipeline.config import MAX_IMAGE_PIXELS, QUERY_IMAGE_SIDE
from shotseek.pipeline.errors import MediaAccessError, QueryError
from shotseek.pipeline.media import confine, load_image


def _png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (width, height), 0).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def test_a_small_file_of_huge_pixels_is_refused_before_decoding():
    data = _png(10_000, 10_000)
    assert len(data) < 400_000 and 10_000 * 10_000 > MAX_IMAGE_PIXELS
    with pytest.raises(QueryError, match=r"10000×10000 pixels; the limit is 50 megapixels"):
        load_image(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_query_images_are_decoded_small(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 30, 30)).save(buf, format=fmt)
    image = load_image(buf.getvalue())
    assert max(image.size) <= QUERY_IMAGE_SIDE and image.mode == "RGB"
    assert image.size[0] / image.size[1] == pytest.approx(4 / 3, abs=0.01)


def test_a_non_image_names_the_problem_without_python_internals():
    with pytest.raises(QueryError) as info:
        load_image(b"certainly not an image")
    assert "not a recognised format" in str(info.value)
    assert "BytesIO" not in str(info.value)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "the path is empty"),
        ("clip\x00.mp4", "NUL byte"),
        ("a" * 300 + ".mp4", "at most 255 bytes"),
        ("x/" * 2100, "the limit is 4096"),
    ],
)
def test_paths_that_are_no_paths_are_refused_clearly(tmp_path, path, message):
    with pytest.raises(MediaAccessError, match=message):
        confine(path, [tmp_path])


def test_a_relative_path_is_found_under_any_media_root(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    (second / "sub").mkdir(parents=True)
    (second / "sub" / "clip.mp4").write_bytes(b"x")
    assert confine("sub/clip.mp4", [first, second]) == second / "sub" / "clip.mp4"


def test_image_errors_name_no_python_objects():
    from shotseek.pipeline.media import _image_reason

    reason = _image_reason(OSError("cannot decode <_io.BytesIO object at 0x7f3a2c1b9d50>: bad"))
    assert "object at" not in reason and "bad" in reason
    assert not _image_reason(ValueError("word " * 80)).endswith("wor")  # never cut mid-word
