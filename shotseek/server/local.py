"""The command line beside a running server: a local socket in the data directory.

The embedded store allows one process. A chat client keeps ``shotseek serve`` running; the
server therefore also listens on ``<data dir>/shotseek.sock`` (a Unix socket only its owner may
open), and the CLI's commands send their operation's request there when a server answers,
instead of opening the store themselves. As a side effect a command answered by the running
server pays neither the store's nor the model's start-up.

Protocol: one JSON object per line. The client sends ``{"op": name, "request": {...},
"settings": {...}}``: an operation of :mod:`shotseek.ops` with its request model, and the
settings the command was given (the server takes those a caller may choose, and refuses the
others: :meth:`Settings.for_request`). The server answers with ``{"progress": event}`` lines,
``{"alive": true}`` every :data:`HEARTBEAT_S` while it works, then one ``{"result": ...}`` or
``{"error": "message"}`` line, and closes the connection. A client that hears nothing for
:data:`SILENCE_S` gives up with one line; a server whose client has gone (Ctrl-C) stops the
work at its next step.

The client half imports nothing heavy: the CLI loads it before deciding whether it needs the
pipeline at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
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
#: How long a client waits to connect; how often a working server says it is alive; how long a
#: client waits for a line before it gives up (a long eval or VLM rerank sends heartbeats).
CONNECT_TIMEOUT_S = 2.0
HEARTBEAT_S = 2.0
SILENCE_S = 60.0


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
    request: dict[str, Any],
    settings: dict[str, Any],
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Any:
    """Ask the server running on ``data_dir`` to do the operation ``op``; its result as JSON.

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
        conn.settimeout(SILENCE_S)
        message = {"op": op, "request": request, "settings": settings}
        stream.write(json.dumps(message).encode() + b"\n")
        stream.flush()
        try:
            for line in stream:
                answer = json.loads(line)
                if "progress" in answer:
                    if on_progress is not None:
                        on_progress(answer["progress"])
                elif "error" in answer:
                    raise LocalServerError(answer["error"])
                elif "result" in answer:
                    return answer["result"]
        except TimeoutError:
            raise LocalServerError(
                f"the running shotseek server (socket {path}) sent nothing for {SILENCE_S:g} s "
                f"although it says it is alive every {HEARTBEAT_S:g} s: it may be stuck (its log "
                "is on its stderr); this command gave up and the server stops the work when it "
                "notices"
            ) from None
    raise LocalServerError("the running shotseek server closed the connection without answering")


def listening(data_dir: Path) -> bool:
    """Whether a ``shotseek serve`` listens on ``data_dir``'s socket now."""
    path = socket_path(data_dir)
    return path is not None and _ours(path) and _answers(path)


def _answers(path: Path) -> bool:
    """Whether something accepts a connection on the socket ``path`` (a socket file left by a
    killed server accepts none)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(CONNECT_TIMEOUT_S)
        try:
            conn.connect(str(path))
        except OSError:
            return False
    return True


class _NoServer:
    def __repr__(self) -> str:
        return "NO_SERVER"


NO_SERVER: Any = _NoServer()


# -- server ------------------------------------------------------------------------------------

#: ``handle(message, progress, cancelled)``: does one request (``{"op", "request",
#: "settings"}``), sending progress events through ``progress``; stops when ``cancelled`` is set.
Handler = Callable[[dict[str, Any], Callable[[Any], None], threading.Event], Any]


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
            if _answers(self.path):
                log.warning("another shotseek server listens on %s", self.path)
                return False
            self.path.unlink()  # left by a server that was killed
        handle = self._handle

        class _Request(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                try:
                    message = json.loads(self.rfile.readline())
                except ValueError:
                    message = None
                outbox: queue.Queue[dict[str, Any]] = queue.Queue()
                cancelled = threading.Event()
                threading.Thread(
                    target=_work,
                    args=(handle, message, outbox, cancelled),
                    name="shotseek-local-request",
                    daemon=True,
                ).start()
                while True:  # this thread alone writes to the client
                    try:
                        answer = outbox.get(timeout=HEARTBEAT_S)
                    except queue.Empty:
                        answer = {"alive": True}
                    try:
                        self.wfile.write(json.dumps(answer).encode() + b"\n")
                        self.wfile.flush()
                    except OSError:  # the client went away (Ctrl-C, gave up): stop the work
                        cancelled.set()
                        return
                    if "result" in answer or "error" in answer:
                        return

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
        """Stop listening and remove the socket (before the server closes its store, so that
        no request arrives in between)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def _work(
    handle: Handler,
    message: Any,
    outbox: queue.Queue[dict[str, Any]],
    cancelled: threading.Event,
) -> None:
    """One request, on a thread of its own; every line it has goes through ``outbox``."""
    try:
        if not isinstance(message, dict) or not isinstance(message.get("op"), str):
            raise LocalServerError("not a shotseek request: a newer or older shotseek sent it?")
        result = handle(message, lambda event: outbox.put({"progress": event}), cancelled)
    except LocalServerError as exc:
        outbox.put({"error": str(exc)})
    except Exception as exc:  # a bug: say so, keep serving
        log.exception("local request failed")
        outbox.put({"error": f"the running shotseek server failed: {type(exc).__name__}: {exc}"})
    except BaseException:  # cancelled (the client went away): nobody reads the answer
        outbox.put({"error": "stopped: the command went away"})
    else:
        outbox.put({"result": result})


# -- what the running server does for the CLI ----------------------------------------------------

#: How long a request that arrives while the server is still starting waits for it.
STARTUP_WAIT_S = 300.0


class PipelineHandler:
    """The CLI's requests, served with the running server's store and job queue through the
    operations layer. The socket listens before the server has loaded the pipeline (so a
    command started meanwhile waits for it rather than taking the store); :meth:`ready` hands
    over the :class:`~shotseek.server.mcp_app.SharedContext` once it exists."""

    def __init__(self) -> None:
        self._shared: Any = None
        self._ready = threading.Event()

    def ready(self, shared: Any) -> None:
        self._shared = shared
        self._ready.set()

    def __call__(
        self,
        message: dict[str, Any],
        progress: Callable[[Any], None],
        cancelled: threading.Event,
    ) -> Any:
        if not self._ready.wait(STARTUP_WAIT_S):
            raise LocalServerError("the running shotseek server did not finish starting")
        return _handle(self._shared, message, progress, cancelled)


def _handle(
    shared: Any,
    message: dict[str, Any],
    progress: Callable[[Any], None],
    cancelled: threading.Event,
) -> Any:
    """One request, done by its operation with the server's store, jobs and settings."""
    from pydantic import ValidationError

    from shotseek.ops.archive import Archive, Call
    from shotseek.ops.operations import OPERATIONS
    from shotseek.pipeline.errors import ShotseekError
    from shotseek.pipeline.models import validation_message

    operation = OPERATIONS.get(message["op"])
    if operation is None:
        raise LocalServerError(
            f"the running server does not know the request {message['op'][:40]!r}: it runs "
            "another shotseek version; restart it"
        )
    app = shared.get()
    if app.store is None:
        raise LocalServerError(app.unavailable or "the running server's store is not open")
    try:
        settings = app.settings.for_request(dict(message.get("settings") or {}))
        request = operation.spec.request.model_validate(message.get("request") or {})
        call = Call(progress=lambda e: progress(e.model_dump(mode="json")), cancelled=cancelled)
        result = operation(Archive(settings, app.store, app.jobs), request, call)
    except ShotseekError as exc:
        raise LocalServerError(str(exc)) from exc
    except (ValidationError, ValueError) as exc:
        raise LocalServerError(validation_message(exc)) from exc
    return result.model_dump(mode="json")
