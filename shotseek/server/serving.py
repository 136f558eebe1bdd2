"""``shotseek serve``: the MCP server over stdio or streamable HTTP, and beside it the socket the
command line reaches it through. The socket listens before the slow imports (a command started
meanwhile waits rather than taking the store) and closes before the store does."""

from __future__ import annotations

from typing import Any

from shotseek.pipeline.config import MAX_HTTP_REQUEST_BYTES, Settings
from shotseek.pipeline.errors import ShotseekError
from shotseek.server.render import err


def serve(settings: Settings, http: bool, host: str, port: int) -> None:
    """Serve MCP (stdio, or HTTP on ``host:port``) until the client or a signal ends it."""
    from shotseek.server.local import LocalServer, PipelineHandler

    # The CLI reaches the embedded store through this server: listen before the slow imports,
    # so that a command started meanwhile waits for the server instead of taking the store.
    handler, local = PipelineHandler(), None
    if not settings.qdrant_url:
        local = LocalServer(settings.data_dir, handler)
        if not local.start():
            local = None
    try:
        _serve_mcp(settings, http, host, port, handler, local)
    finally:
        if local is not None:
            local.stop()


def http_app(server: Any, settings: Settings, host: str, port: int) -> Any:
    """The MCP server as an ASGI app for ``host:port``: streamable HTTP at ``/mcp``, Host and
    Origin checked, requests as large as an inline query image, the bearer token required when
    one is set."""
    from shotseek.server.http_auth import BearerTokenMiddleware, transport_security

    app = server.streamable_http_app(
        host=host,
        transport_security=transport_security(host, port, settings.allowed_host_names),
        max_request_body_size=MAX_HTTP_REQUEST_BYTES,
    )
    if settings.token:
        app = BearerTokenMiddleware(app, settings.token.get_secret_value())
    return app


def _serve_mcp(
    settings: Settings, http: bool, host: str, port: int, handler: Any, local: Any
) -> None:
    from shotseek.server.mcp_app import SharedContext, create_server

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
        import uvicorn

        context = shared.get()  # one clear line now, not a traceback per request later
        if context.unavailable:
            raise ShotseekError(context.unavailable)
        app_ = http_app(server, settings, host, port)
        err.print(
            f"shotseek MCP server on http://{host}:{port}/mcp"
            f"{' (bearer token required)' if settings.token else ''}"
        )
        uvicorn.run(app_, host=host, port=port, log_level="warning")
    finally:
        if local is not None:  # no request may arrive between the two and reopen the store
            local.stop()
        shared.close()
