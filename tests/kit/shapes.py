"""Draw the coloured shapes that the offline test kit is made of.

One renderer serves both the tiny CLIP fixture's training images and the generated footage, so
the fixture is trained on exactly the kind of pictures the tests later search.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: RGB values of the colours in the captions "a {color} {shape}".
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 190, 40),
    "blue": (30, 60, 230),
    "yellow": (240, 225, 30),
    "white": (250, 250, 250),
    "magenta": (225, 30, 225),
    "cyan": (30, 225, 225),
    "orange": (250, 140, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
#: Every caption class, in a fixed order: (color, shape).
CLASSES: tuple[tuple[str, str], ...] = tuple((c, s) for c in COLORS for s in SHAPES)


def caption(color: str, shape: str) -> str:
    """The canonical caption of a class: ``a yellow triangle``."""
    return f"a {color} {shape}"


@dataclass(frozen=True)
class ShapeSpec:
    """One shape in a picture. Coordinates are fractions of the frame (0..1)."""

    color: str
    shape: str
    cx: float
    cy: float
    size: float  # radius as a fraction of the frame's shorter side
    angle: float = 0.0  # degrees


def _polygon(shape: str, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    a0 = math.radians(angle)
    if shape == "square":
        pts = [(a0 + math.pi / 4 + k * math.pi / 2, r) for k in range(4)]
    elif shape == "triangle":
        pts = [(a0 - math.pi / 2 + k * 2 * math.pi / 3, r) for k in range(3)]
    elif shape == "star":
        pts = [
            (a0 - math.pi / 2 + k * math.pi / 5, r if k % 2 == 0 else r * 0.42) for k in range(10)
        ]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return np.array(
        [(cx + rr * math.cos(t), cy + rr * math.sin(t)) for t, rr in pts], dtype=np.float64
    )


def draw_shape(img: np.ndarray, spec: ShapeSpec, color: tuple[int, int, int] | None = None) -> None:
    """Draw ``spec`` into an RGB uint8 image in place (anti-aliased)."""
    h, w = img.shape[:2]
    rgb = color if color is not None else COLORS[spec.color]
    cx, cy, r = spec.cx * w, spec.cy * h, spec.size * min(w, h)
    shift = 4  # sub-pixel precision for cv2
    scale = 1 << shift
    if spec.shape == "circle":
        cv2.circle(
            img,
            (round(cx * scale), round(cy * scale)),
            round(r * scale),
            rgb,
            -1,
            cv2.LINE_AA,
            shift,
        )
    else:
        pts = np.round(_polygon(spec.shape, cx, cy, r, spec.angle) * scale).astype(np.int32)
        cv2.fillPoly(img, [pts], rgb, cv2.LINE_AA, shift)


def render(
    width: int,
    height: int,
    background: int,
    shapes: list[ShapeSpec],
    *,
    brightness: float = 1.0,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
    color_jitter: int = 0,
) -> np.ndarray:
    """Render an RGB uint8 frame: a plain grey background with the given shapes on it."""
    img = np.full((height, width, 3), background, dtype=np.uint8)
    for spec in shapes:
        color = COLORS[spec.color]
        if color_jitter and rng is not None:
            jitter = rng.integers(-color_jitter, color_jitter + 1, size=3)
            color = tuple(int(v) for v in np.clip(np.array(color) + jitter, 0, 255))
        draw_shape(img, spec, color)
    if brightness != 1.0 or noise > 0.0:
        out = img.astype(np.float32) * brightness
        if noise > 0.0:
            gen = rng if rng is not None else np.random.default_rng(0)
            out += gen.normal(0.0, noise, size=out.shape).astype(np.float32)
        img = np.clip(out, 0, 255).astype(np.uint8)
    return img
