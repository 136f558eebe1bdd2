"""A stand-in for Ollama's HTTP API on a loopback port, driven by the real ``ollama`` client:
``/api/show``, ``/api/tags``, ``/api/chat`` with Ollama's status codes and error bodies.

It looks at the images it is sent the way the generated footage allows: the most saturated
colour in the image names the shape's colour (see :mod:`tests.kit.shapes`), so captions say "a
red shape" for red shots, and a query naming the colour is judged a match. Faults are scripted:
answers that are not JSON, a slow answer, a missing model, a model without vision.
"""

from __future__ import annotations

import base64
import io
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

from tests.kit.shapes import COLORS


@dataclass
class ChatSeen:
    """One /api/chat request as the stand-in received it."""

    model: str
    text: str
    images: list[bytes]
    options: dict
    format: object
    think: object
    keep_alive: object


@dataclass
class OllamaStandIn:
    models: dict[str, list[str]] = field(
        default_factory=lambda: {"qwen2.5vl:7b": ["completion", "vision"]}
    )
    invalid_answers: int = 0  # this many chat answers are not JSON
    delay: float = 0.0  # seconds before each chat answer
    #: what the footage's signs say: read out into captions' on-screen text (a stand-in for
    #: a VLM that reads text in the picture, as the caption prompt asks)
    on_screen_text: str = ""
    chats: list[ChatSeen] = field(default_factory=list)

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout, a budget): as Ollama sees it

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    names = [{"name": m, "model": m} for m in standin.models]
                    return self._reply(200, {"models": names})
                return self._reply(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
                model = body.get("model", "")
                if self.path == "/api/show":
                    if model not in standin.models:
                        return self._reply(404, {"error": f"model '{model}' not found"})
                    family = model.split(":")[0]
                    return self._reply(
                        200,
                        {
                            "modelfile": f"FROM {model}",
                            "parameters": "temperature 0.1",
                            "template": "{{ .Prompt }}",
                            "details": {"format": "gguf", "family": family},
                            "model_info": {"general.architecture": family},
                            "capabilities": standin.models[model],
                            "modified_at": "2026-11-01T00:00:00Z",
                        },
                    )
                if self.path != "/api/chat":
                    return self._reply(404, {"error": "not found"})
                if model not in standin.models:
                    return self._reply(404, {"error": f"model '{model}' not found"})
                message = body["messages"][-1]
                seen = ChatSeen(
                    model=model,
                    text=message.get("content", ""),
                    images=[base64.b64decode(i) for i in message.get("images") or []],
                    options=body.get("options") or {},
                    format=body.get("format"),
                    think=body.get("think"),
                    keep_alive=body.get("keep_alive"),
                )
                standin.chats.append(seen)
                if standin.delay:
                    threading.Event().wait(standin.delay)
                if standin.invalid_answers > 0:
                    standin.invalid_answers -= 1
                    content = "Sure! The shot shows a shape."
                else:
                    content = json.dumps(answer(seen, standin.on_screen_text))
                return self._reply(
                    200,
                    {
                        "model": model,
                        "created_at": "2026-11-29T00:00:00Z",
                        "message": {"role": "assistant", "content": content},
                        "done": True,
                    },
                )

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def colour_of(image: bytes) -> str:
    """The shape colour the image shows most of (the backgrounds are grey)."""
    pixels = np.asarray(Image.open(io.BytesIO(image)).convert("RGB"), dtype=np.int32)
    pixels = pixels.reshape(-1, 3)
    saturated = pixels[(pixels.max(axis=1) - pixels.min(axis=1)) > 80]
    if len(saturated) == 0:
        return "grey"
    names = list(COLORS)
    palette = np.array([COLORS[n] for n in names])
    nearest = np.argmin(((saturated[:, None, :] - palette[None]) ** 2).sum(axis=2), axis=1)
    return names[int(np.bincount(nearest, minlength=len(names)).argmax())]


def answer(seen: ChatSeen, on_screen_text: str = "") -> dict:
    colour = colour_of(seen.images[0]) if seen.images else "grey"
    if "searching a film archive asked for" in seen.text:
        query = seen.text.split('asked for: "', 1)[1].split('"', 1)[0].lower()
        match = colour in query.split()
        return {
            "match": match,
            "relevance": 0.9 if match else 0.1,
            "reason": f"the shot shows a {colour} shape" + ("" if match else ", not that"),
        }
    return {
        "caption": f"A {colour} shape on a grey background.",
        "objects": [f"{colour} shape"],
        "on_screen_text": on_screen_text,
        "shot_type": "medium",
    }
