"""The operations layer: what shotseek does, declared once for every door.

Each operation is one typed request (a pydantic model, ``extra="forbid"``), one function and one
typed result, with the progress events it sends. :mod:`shotseek.ops.requests` holds the requests,
results and :data:`~shotseek.ops.requests.SPECS` (light: a door imports it before it knows where
the work runs); :mod:`shotseek.ops.operations` the functions (:data:`OPERATIONS`), over an
:class:`~shotseek.ops.archive.Archive`. The doors only translate: the CLI alone runs an operation
on the store it opened; the CLI beside a running server sends the request model itself through
the socket (:mod:`shotseek.server.local`), where the server runs the same operation; the MCP
tools build the same requests. Which settings a caller may choose per request is declared once
(:data:`shotseek.pipeline.config.REQUEST_SETTINGS`).

Layers (the import-linter contracts in ``pyproject.toml``, checked by the test suite)::

    shotseek.server    doors: cli, local (socket), mcp_app, http_auth
    shotseek.ops       operations: requests, functions, results
    shotseek.pipeline  stages, then the store, config, models and errors
"""
