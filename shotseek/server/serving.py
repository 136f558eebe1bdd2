"""``shotseek serve``: the MCP server over stdio or streamable HTTP, and beside it the socket the
command line reaches it through. The socket listens before the slow imports (a command started
meanwhile waits rather than taking the store) and closes before the store does."""

from __future__ import annotations

import time
from typing import Any

from shotseek.pipeline.config import MAX_HTTP_REQUEST_BYTES, Settings
from shotseek.pipeline.errors import ShotseekError
from shotseek.server.render import err


def serve(
    settings: Settings,
    http: bool,
    host: str,
    port: int,
    *,
    browser: bool = False,
    own: bool = False,
) -> None:
    """Serve MCP (stdio, or HTTP on ``host:port`` with the gallery beside it) until the client
    or a signal ends it; with ``browser``, open the gallery in the browser once it answers;
    ``own`` (``shotseek gallery``): the gallery plays the archive's own files when no media
    roots are set."""
    from shotseek.server.local import LocalServer, PipelineHandler

    # The CLI reaches the embedded store through this server: listen before the slow imports,
    # so that a command started meanwhile waits for the server instead of taking the store.
    handler, local = PipelineHandler(), None
    if not settings.qdrant_url:
        local = LocalServer(settings.data_dir, handler)
        if not local.start():
            local = None
    try:
        _serve_mcp(settings, http, host, port, handler, local, browser, own)
    finally:
        if local is not None:
            local.stop()


def http_app(
    server: Any, settings: Settings, host: str, port: int, do: Any = None, own: bool = False
) -> Any:
    """The MCP server as an ASGI app for ``host:port``: streamable HTTP at ``/mcp``, Host and
    Origin checked, requests as large as an inline query image, the bearer token required when
    one is set; with ``do`` (where operations run), the gallery on every other path (``own``:
    it plays the archive's own files when no media roots are set)."""
    from shotseek.server.http_auth import BearerTokenMiddleware, transport_security

    security = transport_security(host, port, settings.allowed_host_names)
    app = server.streamable_http_app(
        host=host, transport_security=security, max_request_body_size=MAX_HTTP_REQUEST_BYTES
    )
    if settings.token:
        app = BearerTokenMiddleware(app, settings.token.get_secret_value())
    if do is None:
        return app
    from shotseek.server.gallery import beside, gallery_app

    hosts = security.allowed_hosts if security.enable_dns_rebinding_protection else None
    return beside(app, gallery_app(settings, do, hosts, play_indexed=own))


def socket_doer(settings: Settings) -> Any:
    """Operations through the socket of the ``shotseek serve`` that holds the store (or here,
    when it has gone): the gallery's ``do`` beside a running server."""
    import anyio.to_thread

    from shotseek.server import calls

    async def do(name: str, request: Any) -> Any:
        return await anyio.to_thread.run_sync(calls.run, settings, name, request)

    return do


def _serve_mcp(
    settings: Settings,
    http: bool,
    host: str,
    port: int,
    handler: Any,
    local: Any,
    browser: bool,
    own: bool,
) -> None:
    from shotseek.server.mcp_app import SharedContext, archive_doer, create_server

    if not settings.media_root_paths:
        err.print(
            "note: no media roots configured (--media-root / SHOTSEEK_MEDIA_ROOTS): "
            "search works, index_video and image paths are refused"
        )
    shared = SharedContext(settings)
    server = create_server(shared)
    handler.ready(shared)
    try:
        if not http:
            server.run("stdio")  # stdout carries the protocol and nothing else
            return

        context = shared.get()  # one clear line now, not a traceback per request later
        if context.unavailable:
            raise ShotseekError(context.unavailable)
        app_ = http_app(server, settings, host, port, archive_doer(shared), own)
        err.print(
            f"shotseek MCP server on http://{host}:{port}/mcp"
            f"{' (bearer token required)' if settings.token else ''}, "
            f"the gallery on http://{host}:{port}/"
        )
        _run_http(app_, host, port, browser)
    finally:
        if local is not None:  # no request may arrive between the two and reopen the store
            local.stop()
        shared.close()


def gallery(settings: Settings, port: int, browser: bool) -> None:
    """``shotseek gallery``: the gallery on loopback, through the socket of the ``shotseek
    serve`` that holds the embedded store when one runs, else in a server of its own (MCP
    beside it, as ``serve --http``)."""
    from shotseek.server.local import listening

    host = "127.0.0.1"
    if settings.qdrant_url or not listening(settings.data_dir):
        serve(settings, True, host, port, browser=browser, own=True)
        return
    from shotseek.server.gallery import gallery_app
    from shotseek.server.http_auth import transport_security

    security = transport_security(host, port, settings.allowed_host_names)
    app = gallery_app(settings, socket_doer(settings), security.allowed_hosts, play_indexed=True)
    err.print(
        f"the gallery on http://{host}:{port}/ (through the shotseek server running on "
        f"{settings.data_dir})"
    )
    _run_http(app, host, port, browser)


def _run_http(app: Any, host: str, port: int, browser: bool) -> None:
    """Serve ``app`` until a signal; with ``browser``, open the gallery once it listens."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
    if browser:
        import threading
        import webbrowser

        def open_when_up() -> None:
            while not server.started and not server.should_exit:
                time.sleep(0.05)
            if server.started:
                webbrowser.open(f"http://{host}:{port}/")

        threading.Thread(target=open_when_up, name="shotseek-browser", daemon=True).start()
    server.run()
