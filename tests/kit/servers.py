"""A real `shotseek serve --http` for tests that use several doors at once, and an MCP client
for it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_shotseek(args: list[str], env: dict[str, str], probe: str) -> subprocess.Popen:
    """``shotseek ARGS`` (a server), once ``probe`` (a URL) answers anything (or it has exited)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "shotseek", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    for _ in range(1200):
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            httpx2.get(probe, timeout=2)
            return proc
        except httpx2.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("the server did not answer in 120 s")


def start_http_server(env: dict[str, str], port: int) -> subprocess.Popen:
    """`shotseek serve --http` on ``port``, once it answers (or has exited)."""
    url = f"http://127.0.0.1:{port}/mcp"
    return start_shotseek(["serve", "--http", "--port", str(port)], env, url)


@contextlib.contextmanager
def http_server(env: dict[str, str]) -> Iterator[str]:
    """A server for the block; its MCP URL."""
    port = free_port()
    proc = start_http_server(env, port)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def mcp_http(url: str, token: str, tool: str, **args: Any) -> dict:
    """One tool call over streamable HTTP with the bearer token; its structured content."""

    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=600)
        async with Client(streamable_http_client(url, http_client=http)) as client:
            result = await client.call_tool(tool, args)
            assert not result.is_error, result.content
            return result.structured_content

    return anyio.run(go)
