"""What guards the streamable HTTP MCP app: a bearer-token check (a plain ASGI middleware) and
the Host/Origin checks against DNS rebinding (the SDK's transport security, configured here).

DNS rebinding: a web page the user opens can make the browser send requests to any address,
loopback included, under the page's own host name. Checking that the Host header names this
server (and that an Origin, when sent, is this server) stops that. Every loopback bind gets the
check; so does an off-loopback bind (which requires a token) when it is bound to one address or
``SHOTSEEK_ALLOWED_HOSTS`` names the host names clients use.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

from mcp.server.transport_security import TransportSecuritySettings


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_names(host: str, port: int) -> list[str]:
    bare = host.strip("[]")
    try:
        literal = f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        literal = bare
    return [f"{literal}:{port}", literal]


def transport_security(host: str, port: int, allowed_hosts: list[str]) -> TransportSecuritySettings:
    """Host/Origin checks for a server bound to ``host:port``.

    Allowed: the bound address itself, the loopback names when it is a loopback address, and
    ``allowed_hosts`` (names clients use, e.g. ``footage.example.org``). A wildcard bind
    (0.0.0.0, ::) with no allowed hosts cannot know its names and checks nothing: it is
    protected by its token alone."""
    names = [n for name in allowed_hosts for n in _host_names(name, port)]
    if host not in ("0.0.0.0", "::", ""):
        names += _host_names(host, port)
    if is_loopback(host):
        for alias in ("localhost", "127.0.0.1", "::1"):
            names += _host_names(alias, port)
    if not names:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    expanded = list(dict.fromkeys(names))
    origins = [f"{scheme}://{n}" for n in expanded for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=expanded, allowed_origins=origins
    )


def bearer_credentials(header: bytes) -> bytes | None:
    """The credentials of an ``Authorization: Bearer <token>`` header: the scheme name is
    case-insensitive (RFC 7235 §2.1, RFC 6750 §2.1), space around the token ignored; None for
    another scheme or none."""
    scheme, _, credentials = header.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return None
    return credentials.strip()


class BearerTokenMiddleware:
    """Refuses every HTTP request without ``Authorization: Bearer <token>`` (401)."""

    def __init__(self, app, token: str) -> None:
        self.app = app
        self.expected = token.strip().encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            given = bearer_credentials(dict(scope.get("headers") or []).get(b"authorization", b""))
            if given is None or not hmac.compare_digest(given, self.expected):
                body = json.dumps({"error": "missing or wrong bearer token"}).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="shotseek"'),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)
