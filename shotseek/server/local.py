"""The command line beside a running server: a local socket in the data directory.

The embedded store allows one process. A chat client keeps ``shotseek serve`` running; the
server therefore also listens on ``<data dir>/shotseek.sock`` (a Unix socket only its owner may
open), and ``shotseek index/search/refine/videos/structure`` send their request there when a
server answers, instead of opening the store themselves. As a side effect a command answered by
the running server pays neither the store's nor the model's start-up.

Protocol: one JSON object per line. The client sends ``{"op": ..., "params": {...}}``; the
server answers with zero or more ``{"progress": ProgressEvent}`` lines (indexing), then one
``{"result": ...}`` or ``{"error": "message"}`` line, and closes the connection.

The client half imports nothing heavy: the CLI loads it before deciding whether it needs the
pipeline at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import socketserver
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SOCKET_NAME = "shotseek.sock"
#: A Unix socket path must fit ``sun_path`` (108 bytes on Linux, 104 on macOS).
_MAX_SOCKET_PATH = 100
#: How long a client waits to connect, and for a line of the answer (indexing sends progress).
CONNECT_TIMEOUT_S = 2.0
ANSWER_TIMEOUT_S = 600.0


class LocalServerError(Exception):
    """The running server answered with an error: its message is for the user."""


def socket_path(data_dir: Path) -> Path | None:
    """Where the server listens for this data directory: in it, or, when that path is too long
    for a Unix socket, in the user's runtime (or temporary) folder under a name derived from it.
    None where there are no Unix sockets (the CLI then opens the store itself)."""
    if not hasattr(socket, "AF_UNIX"):
        return None
    folder = Path(data_dir).expanduser().absolute()
    path = folder / SOCKET_NAME
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    runtime = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir())
    digest = hashlib.sha256(os.fsencode(folder)).hexdigest()[:16]
    return runtime / f"shotseek-{os.getuid()}-{digest}.sock"


def _ours(path: Path) -> bool:
    """A socket made by this user: never talk to one someone else put in a shared folder."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISSOCK(info.st_mode) and info.st_uid == os.getuid()


# -- client ------------------------------------------------------------------------------------


def call(
    data_dir: Path,
    op: str,
    params: dict[str, Any],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Ask the server running on ``data_dir`` to do ``op``; its result as JSON data.

    Returns :data:`NO_SERVER` when no server listens (the caller does the work itself) and
    raises :class:`LocalServerError` with the server's message when the request failed."""
    path = socket_path(data_dir)
    if path is None or not _ours(path):
        return NO_SERVER
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(CONNECT_TIMEOUT_S)
    try:
        conn.connect(str(path))
    except OSError:  # a socket file left by a server that was killed: nobody listens
        conn.close()
        return NO_SERVER
    with conn, conn.makefile("rwb") as stream:
        conn.settimeout(ANSWER_TIMEOUT_S)
        stream.write(json.dumps({"op": op, "params": params}).encode() + b"\n")
        stream.flush()
        for line in stream:
            message = json.loads(line)
            if "progress" in message:
                if on_progress is not None:
                    on_progress(message["progress"])
            elif "error" in message:
                raise LocalServerError(message["error"])
            else:
                return message["result"]
    raise LocalServerError("the running shotseek server closed the connection without answering")


class _NoServer:
    def __repr__(self) -> str:
        return "NO_SERVER"


NO_SERVER: Any = _NoServer()


# -- server ------------------------------------------------------------------------------------

Handler = Callable[[str, dict[str, Any], Callable[[dict[str, Any]], None]], Any]


class LocalServer:
    """Serves :func:`call` requests on the data directory's socket, each on its own thread,
    with ``handle(op, params, progress)`` (which returns JSON data or raises)."""

    def __init__(self, data_dir: Path, handle: Handler) -> None:
        self.path = socket_path(data_dir)
        self._handle = handle
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    def start(self) -> bool:
        """Listen; False (and a log line) when the socket cannot be made."""
        if self.path is None:
            log.warning("no Unix sockets here: the CLI cannot reach this server")
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if not _ours(self.path):
                log.warning("%s exists and is not this user's socket: not listening", self.path)
                return False
            try:
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.settimeout(CONNECT_TIMEOUT_S)
                probe.connect(str(self.path))
                probe.close()
                log.warning("another shotseek server listens on %s", self.path)
                return False
            except OSError:
                self.path.unlink()  # left by a server that was killed
        handle = self._handle

        class _Request(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                def send(message: dict[str, Any]) -> None:
                    self.wfile.write(json.dumps(message).encode() + b"\n")
                    self.wfile.flush()

                try:
                    request = json.loads(self.rfile.readline())
                    result = handle(
                        str(request["op"]),
                        dict(request.get("params") or {}),
                        lambda event: send({"progress": event}),
                    )
                except LocalServerError as exc:
                    send({"error": str(exc)})
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client went away (Ctrl-C)
                except Exception as exc:  # a bug: say so, keep serving
                    log.exception("local request failed")
                    failure = f"{type(exc).__name__}: {exc}"
                    send({"error": f"the running shotseek server failed: {failure}"})
                else:
                    send({"result": result})

        old_umask = os.umask(0o177)  # the socket is the owner's alone, like the data it serves
        try:
            server = socketserver.ThreadingUnixStreamServer(str(self.path), _Request)
        except OSError as exc:
            log.warning(
                "cannot listen on %s (%s): the CLI cannot reach this server", self.path, exc
            )
            return False
        finally:
            os.umask(old_umask)
        server.daemon_threads = True
        self._server = server
        threading.Thread(target=server.serve_forever, name="shotseek-local", daemon=True).start()
        return True

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


# -- what the running server does for the CLI ----------------------------------------------------

#: Settings a CLI request may change for itself: never where the store is or who may reach it.
_PER_REQUEST = frozenset({"model", "pretrained", "checkpoint_tag", "device", "fps"})


#: How long a request that arrives while the server is still starting waits for it.
STARTUP_WAIT_S = 300.0


class PipelineHandler:
    """The requests of ``shotseek index/search/refine/videos/structure``, served with the running
    server's store. The socket listens before the server has loaded the pipeline (so a command
    started meanwhile waits for it rather than taking the store); :meth:`ready` hands over the
    :class:`~shotseek.server.mcp_app.SharedContext` once it exists."""

    def __init__(self) -> None:
        self._shared: Any = None
        self._ready = threading.Event()

    def ready(self, shared: Any) -> None:
        self._shared = shared
        self._ready.set()

    def __call__(
        self, op: str, params: dict[str, Any], progress: Callable[[dict[str, Any]], None]
    ) -> Any:
        if not self._ready.wait(STARTUP_WAIT_S):
            raise LocalServerError("the running shotseek server did not finish starting")
        return _handle(self._shared, op, params, progress)


def _handle(
    shared: Any, op: str, params: dict[str, Any], progress: Callable[[dict[str, Any]], None]
) -> Any:
    """One request, done with the server's store and settings."""
    from pydantic import ValidationError

    from shotseek.pipeline import catalog, index, search
    from shotseek.pipeline.errors import ShotseekError
    from shotseek.pipeline.models import SearchQuery, validation_message

    app = shared.get()
    if app.store is None:
        raise LocalServerError(app.unavailable or "the running server's store is not open")
    overrides = {k: v for k, v in (params.get("settings") or {}).items() if k in _PER_REQUEST}
    try:
        settings = app.settings.merged(**overrides)
        if op == "videos":
            records = catalog.list_videos(
                app.store, settings, every_model=bool(params.get("every_model", True))
            )
            return [r.model_dump(mode="json") for r in records]
        if op == "caption":
            from shotseek.pipeline import captions

            report = captions.caption_videos(
                settings,
                app.store,
                params.get("videos"),
                progress=lambda done, total, _: progress({"done": done, "total": total}),
            )
            return report.model_dump(mode="json")
        if op == "eval":
            from pathlib import Path

            from shotseek.pipeline.evaluation import eval_configs, evaluate

            configs = eval_configs(
                app.store,
                settings,
                compare=bool(params.get("compare")),
                mode=params.get("mode", "clip"),
                rerank=int(params.get("rerank", 0)),
            )
            report = evaluate(
                settings, app.store, Path(params["log"]), configs, tolerance=params["tolerance"]
            )
            return report.model_dump(mode="json")
        if op == "index_state":
            return [state.model_dump(mode="json") for state in catalog.index_states(app.store)]
        if op == "structure":
            found = catalog.video_structure(app.store, settings, str(params["video"]))
            return found.model_dump(mode="json")
        if op == "search":
            query = SearchQuery.model_validate(params["query"])
            return search.search(settings, app.store, query).model_dump(mode="json")
        if op == "refine":
            result = search.refine(settings, app.store, **params["args"])
            return result.model_dump(mode="json")
        if op == "index":
            report = index.index_paths(
                [str(p) for p in params["paths"]],
                settings,
                store=app.store,
                force=bool(params.get("force")),
                progress=lambda event: progress(event.model_dump(mode="json")),
                build_in_background=True,  # the server searches meanwhile
            )
            return report.model_dump(mode="json")
    except ShotseekError as exc:
        raise LocalServerError(str(exc)) from exc
    except (ValidationError, ValueError) as exc:
        raise LocalServerError(validation_message(exc)) from exc
    raise LocalServerError(f"the running server does not know the request {op!r}")
