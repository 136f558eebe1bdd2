"""shotseek's errors, all of them: one base class, one sentence each naming the bad value and
the fix. Every module raises from here, so a front (CLI, MCP) can tell a user's mistake
(:class:`ShotseekError`: show the message) from a bug (anything else)."""

from __future__ import annotations


class ShotseekError(Exception):
    """Base of every error shotseek raises on purpose; its message is meant for the user."""


class ConfigError(ShotseekError):
    """A setting or argument has a value shotseek cannot use."""


# -- video files -----------------------------------------------------------------------------


class VideoOpenError(ShotseekError):
    """A file cannot be used as a video: missing, empty, not a video, no video stream, no frames."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class VideoDecodeError(VideoOpenError):
    """A video opened but its data is truncated or corrupt part-way through."""


class WorkerLostError(ShotseekError):
    """A process decoding a file died before it was done (killed, out of memory, a codec crash)."""


class MediaAccessError(ShotseekError):
    """A path outside the media roots, no media roots configured, or a path that is no path."""


# -- the embedding model ---------------------------------------------------------------------


class UnknownModelError(ShotseekError):
    """The embedding model name or pretrained tag is not known to open_clip."""


class ModelUnavailableError(ShotseekError):
    """The model is known but its weights cannot be loaded (offline, missing or bad file)."""


# -- the store -------------------------------------------------------------------------------


class StoreUnavailableError(ShotseekError):
    """The store cannot be opened or reached."""


class StoreMismatchError(ShotseekError):
    """The store holds something that does not fit the request (model, dimension)."""


class VideoNotFoundError(ShotseekError):
    """No indexed video matches the reference."""


# -- search ----------------------------------------------------------------------------------


class QueryError(ShotseekError):
    """The query cannot be run as given (empty, bad image, bad range, too long)."""


class SearchNotFoundError(ShotseekError):
    """A search id that is not (or no longer) kept."""


class UnknownShotError(ShotseekError):
    """Shot ids that are not in the store (or belong to a replaced index run)."""


# -- export ----------------------------------------------------------------------------------


class ExportError(ShotseekError):
    """An export that cannot be written as asked (unknown format, nothing to export, a folder
    that cannot be written)."""


# -- the vision-language model (Ollama) ------------------------------------------------------


class VlmUnavailableError(ShotseekError):
    """Ollama cannot be reached, the model is not pulled or cannot see images, or it timed out."""


class VlmAnswerError(ShotseekError):
    """The VLM answered, but not with what was asked (invalid JSON twice)."""


# -- background jobs -------------------------------------------------------------------------


class JobNotFoundError(ShotseekError):
    """An index job id that this server does not know (never started, or long finished)."""


class StoreBusyError(ShotseekError):
    """Another process writes to the store (an index run, or a server holding it)."""


class ServerRefusedError(ShotseekError):
    """A running server will not do a request as asked (a setting it keeps for itself)."""


# -- stopping ----------------------------------------------------------------------------------


class OperationCancelled(BaseException):  # noqa: N818 (like KeyboardInterrupt: not an error)
    """A caller stopped an operation (cancel_index, a client that went away). A BaseException,
    like KeyboardInterrupt, so that what catches a file's failure and goes on to the next file
    lets it through, and every clean-up that runs on Ctrl-C runs for it too."""
