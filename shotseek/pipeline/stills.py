"""Still pictures: a sample that barely differs from the last embedded one reuses its embedding.

A static interview, a title card or a locked-off shot gives many samples of one picture; each
would cost a model call and give the same vector within noise. Whether a sample is new is decided
from a cheap signal: the mean absolute difference, in levels (0–255), between 32-pixel-wide colour
thumbnails of the sample and of the *last embedded* sample (not the previous sample, so a slow
change adds up until it counts and is embedded). Colour, not grey: a red object and a green one
of the same brightness are different pictures to CLIP. Every sample keeps its own time; only the
model call is saved.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Width of the thumbnail compared (its height follows the frame's aspect).
THUMB_WIDTH = 32


def thumbnail(image: np.ndarray) -> np.ndarray:
    """A tiny version of an H × W × 3 frame: float32, THUMB_WIDTH wide, area-averaged (which
    also averages compression noise away)."""
    height = max(1, round(THUMB_WIDTH * image.shape[0] / image.shape[1]))
    small = cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


class StillFilter:
    """Says, sample by sample, whether a frame can reuse the last embedded sample's vector.

    ``threshold`` is the largest mean difference (levels 0–255, over the thumbnail's pixels and
    channels) still counted as the same picture;
    0 turns the filter off (every sample is embedded).
    """

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.reused = 0
        self._reference: np.ndarray | None = None

    def is_still(self, image: np.ndarray) -> bool:
        """True when ``image`` shows the last embedded sample's picture; otherwise it becomes
        the reference (the caller embeds it)."""
        if self.threshold <= 0:
            return False
        thumb = thumbnail(image)
        reference = self._reference
        if reference is not None and reference.shape == thumb.shape:
            if float(np.abs(thumb - reference).mean()) <= self.threshold:
                self.reused += 1
                return True
        self._reference = thumb
        return False
