"""Where a command's operation runs: in the ``shotseek serve`` that holds this data directory's
embedded store (the request model travels through its socket, :mod:`shotseek.server.local`), or
here, on the store opened for it. Either way the command gets the operation's typed result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shotseek.pipeline.config import Settings
from shotseek.pipeline.errors import ShotseekError
from shotseek.server.render import err


def open_store(settings: Settings):
    from shotseek.pipeline.store import ShotStore

    return ShotStore(settings)


def run(settings: Settings, name: str, request: BaseModel, on_progress: Any = None) -> Any:
    """The operation ``name`` done by the ``shotseek serve`` running on this data directory
    (it holds the embedded store; the request model travels through its socket), or, when none
    runs, here on the store opened for it. Its result and progress events are typed either way."""
    from shotseek.ops.requests import SPECS
    from shotseek.server.local import NO_SERVER, LocalServerError, call

    spec = SPECS[name]
    if not settings.qdrant_url:  # a Qdrant server takes any number of clients: no need
        heard = None
        if on_progress is not None and spec.progress is not None:
            progress_model = spec.progress

            def heard(event: dict[str, Any]) -> None:
                on_progress(progress_model.model_validate(event))

        try:
            answer = call(
                settings.data_dir,
                name,
                request.model_dump(mode="json"),
                settings.sent_with_requests(),
                heard,
            )
        except LocalServerError as exc:
            raise ShotseekError(str(exc)) from exc
        if answer is not NO_SERVER:
            return spec.result.model_validate(answer)
    from shotseek.ops.archive import Archive, Call
    from shotseek.ops.operations import OPERATIONS

    with open_store(settings) as store:
        call_here = Call(progress=on_progress) if on_progress is not None else Call()
        return OPERATIONS[name](Archive(settings, store), request, call_here)


def keep_text_graphs(settings: Settings) -> None:
    """After a command that loaded a model here (an index run, a search without a text graph):
    write the model's text tower for later text searches (pipeline/text_graph.py), once."""
    if not settings.text_graph or "shotseek.pipeline.encoder" not in sys.modules:
        return  # no model was loaded in this process
    from shotseek.pipeline.encoder import loaded_encoders
    from shotseek.pipeline.text_graph import has_text_graph, write_text_graph

    for encoder in loaded_encoders():
        if has_text_graph(settings, encoder.model_id):
            continue
        err.print(
            f"[dim]keeping the text tower of {encoder.model_id} so that text searches start "
            "without loading the model (once per model)…[/dim]"
        )
        try:
            write_text_graph(encoder, settings)
        except (OSError, ShotseekError) as exc:  # the command's own work is done and shown
            err.print(f"[yellow]could not keep the text tower: {exc}[/yellow]")


def as_sent(ref: str) -> str:
    """A reference as the operation must see it, wherever it runs: a path (it has a folder in
    it) that exists here made absolute, since a server's working directory is not ours; ids
    and bare file names as they are (the rule MCP's tools follow too), so that ``clip.mp4``
    names the indexed file of that name even where another ``clip.mp4`` lies in this folder."""
    if "/" not in ref and "\\" not in ref and not ref.startswith("~"):
        return ref
    path = Path(ref).expanduser()
    return str(path.absolute()) if path.exists() else ref
