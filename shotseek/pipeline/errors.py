"""shotseek's errors: one base class, one sentence each naming the bad value and the fix."""

from __future__ import annotations


class ShotseekError(Exception):
    """Base of every error shotseek raises on purpose; its message is meant for the user."""


class ConfigError(ShotseekError):
    """A setting or argument has a value shotseek cannot use."""


class VideoOpenError(ShotseekError):
    """A file cannot be used as a video: missing, empty, not a video, no video stream, no frames."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class VideoDecodeError(VideoOpenError):
    """A video opened but its data is truncated or corrupt part-way through."""


class UnknownModelError(ShotseekError):
    """The embedding model name or pretrained tag is not known to open_clip."""


class ModelUnavailableError(ShotseekError):
    """The model is known but its weights cannot be loaded (offline, missing or bad file)."""
