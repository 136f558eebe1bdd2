"""The gallery: shotseek in a web browser, one more door onto the same operations.

``shotseek serve --http`` serves it beside ``/mcp`` on the same port; ``shotseek gallery`` serves
it on loopback and opens the browser (through the socket of a ``shotseek serve`` that holds the
embedded store, when one runs). Everything it shows ships in the package (``server/web/``): no
CDN, no build step.

What it serves, and to whom:

- the page and its script (``/``, ``/static/…``), the login form when a token is set;
- ``POST /api/<operation>``: search, refine, videos, structure, export (a download) — each body
  is the operation's own request model, validated as every door validates it;
- a shot's keyframe, hover-scrub sprite and media, for shots of results it sent (it remembers
  them: nothing else is read), and media only from the media roots, with range requests; files a
  browser cannot play come as a proxy cut by the ``clip`` operation, cached.

Security as for ``/mcp``: the Host and Origin checks against DNS rebinding; with a token, a login
form sets an HttpOnly, SameSite=Strict session cookie (the token never travels in a URL); every
POST carries the session's CSRF token in a header; a Content-Security-Policy without inline
script. The page writes every caption, file name and query as text, never as HTML.
"""

from __future__ import annotations

import hmac
import html
import io
import json
import secrets
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from shotseek.ops.requests import (
    SPECS,
    ClipRequest,
    ExportRequest,
    RefineRequest,
    SearchRequest,
    StructureRequest,
    VideosRequest,
)
from shotseek.pipeline.config import (
    DEFAULT_RERANK,
    GALLERY_SESSIONS_KEPT,
    GALLERY_SHOTS_KEPT,
    MAX_HTTP_REQUEST_BYTES,
    SPRITE_FRAMES,
    SPRITE_HEIGHT,
    Settings,
)
from shotseek.pipeline.errors import (
    MediaAccessError,
    ShotseekError,
    UnknownShotError,
)
from shotseek.pipeline.history import write_atomically
from shotseek.pipeline.models import (
    SearchResult,
    Shot,
    VideoRecord,
    VideoStructure,
    validation_message,
)
from shotseek.pipeline.timecode import format_timecode

#: ``do(operation name, request) -> result``: where the gallery's operations run (on the
#: archive of this process's server, or through the socket of the one that holds the store).
Doer = Callable[[str, BaseModel], Awaitable[Any]]

SESSION_COOKIE = "shotseek_session"
CSRF_HEADER = "x-csrf-token"
#: No inline script or style; media and pictures from this origin (and blobs the page makes).
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
WEB = files("shotseek.server") / "web"


# -- what the page is sent ---------------------------------------------------------------------


class StepTile(BaseModel):
    """A step of a sequence hit as the page draws it."""

    text: str
    shot_id: str
    start: float
    end: float
    start_tc: str
    end_tc: str
    score: float


class Tile(BaseModel):
    """One shot as the page draws it."""

    shot_id: str
    video_id: str
    file_name: str
    start: float
    end: float
    start_tc: str
    end_tc: str
    source_tc: str | None = None
    frame: float = Field(description="Seconds of one frame of the file (to stop on its last).")
    index: int
    scene: int
    class_index: int
    boundary: str
    rank: int | None = None
    score: float | None = None
    caption: str | None = None
    match: bool | None = None
    relevance: float | None = None
    explanation: str | None = None
    steps: list[StepTile] | None = None


class ResultsView(BaseModel):
    search_id: str
    parent_id: str | None = None
    mode: str
    text: str | None = None
    no_good_match: bool | None = None
    note: str | None = None
    tiles: list[Tile]


class SceneSpan(BaseModel):
    index: int
    class_index: int
    start: float
    end: float


class StructureView(BaseModel):
    video_id: str
    file_name: str
    duration: float
    classes: int
    scenes: list[SceneSpan]
    shots: list[Tile]


class PlayView(BaseModel):
    """Where the page plays a shot from, and the span to play in that file."""

    src: str
    start: float
    end: float
    frame: float
    proxy: bool


# -- sessions ----------------------------------------------------------------------------------


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    signed_in: bool = False


class Sessions:
    """Browser sessions by cookie value, the oldest forgotten past :data:`GALLERY_SESSIONS_KEPT`."""

    def __init__(self) -> None:
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sid: str | None) -> Session | None:
        with self._lock:
            return self._by_id.get(sid) if sid else None

    def new(self, signed_in: bool = False) -> tuple[str, Session]:
        sid, session = secrets.token_urlsafe(32), Session(signed_in=signed_in)
        with self._lock:
            self._by_id[sid] = session
            while len(self._by_id) > GALLERY_SESSIONS_KEPT:
                self._by_id.popitem(last=False)
        return sid, session


# -- the gallery -------------------------------------------------------------------------------


class Gallery:
    """The gallery's state: the shots it has sent (and may therefore show), the videos' frame
    rates, its sessions, and the operations it calls."""

    def __init__(
        self, settings: Settings, do: Doer, allowed_hosts: list[str] | None, play_indexed: bool
    ) -> None:
        self.settings = settings
        self.play_indexed = play_indexed
        self.do = do
        self.sessions = Sessions()
        self.allowed_hosts = allowed_hosts  # None: no Host check (a wildcard bind with a token)
        self._shots: OrderedDict[str, Shot] = OrderedDict()
        self._videos: dict[str, VideoRecord] = {}
        self._proxies: dict[str, Path] = {}
        self._lock = threading.Lock()

    # the shots it may show
    def remember(self, shots: list[Shot]) -> None:
        with self._lock:
            for shot in shots:
                self._shots[shot.shot_id] = shot
                self._shots.move_to_end(shot.shot_id)
            while len(self._shots) > GALLERY_SHOTS_KEPT:
                self._shots.popitem(last=False)

    def shot(self, shot_id: str) -> Shot:
        with self._lock:
            shot = self._shots.get(shot_id)
        if shot is None:
            raise UnknownShotError(
                f"no shot {shot_id[:80]!r} in this gallery's results: search again (the gallery "
                "shows only shots it has sent)"
            )
        return shot

    def know(self, videos: list[VideoRecord]) -> None:
        """The archive's videos as a listing gave them (their rates, their indexed paths)."""
        self._videos = {v.video_id: v for v in videos}

    async def video(self, video_id: str) -> VideoRecord | None:
        if video_id not in self._videos:
            self.know((await self.do("videos", VideosRequest())).videos)
        return self._videos.get(video_id)

    def proxy(self, shot_id: str) -> Path:
        made = self._proxies.get(shot_id)
        if made is None or not made.is_file():
            raise UnknownShotError(f"no proxy made for shot {shot_id[:80]!r}: play it first")
        return made

    async def tiles(self, shots: list[Shot], hits: list[Any] | None = None) -> list[Tile]:
        self.remember(shots)
        made = []
        for i, shot in enumerate(shots):
            record = await self.video(shot.video_id)
            hit = hits[i] if hits else None
            made.append(
                Tile(
                    shot_id=shot.shot_id,
                    video_id=shot.video_id,
                    file_name=record.file_name if record else Path(shot.path).name,
                    start=shot.start,
                    end=shot.end,
                    start_tc=format_timecode(shot.start),
                    end_tc=format_timecode(shot.end),
                    source_tc=shot.source_tc,
                    frame=_frame_seconds(record),
                    index=shot.index,
                    scene=shot.scene,
                    class_index=shot.class_index,
                    boundary=shot.boundary,
                    rank=hit.rank if hit else None,
                    score=hit.score if hit else None,
                    caption=hit.caption if hit else None,
                    match=hit.match if hit else None,
                    relevance=hit.relevance if hit else None,
                    explanation=hit.explanation if hit else None,
                    steps=_steps(hit.steps) if hit and hit.steps else None,
                )
            )
        return made

    async def results(self, result: SearchResult) -> ResultsView:
        self.remember([s.shot for h in result.hits for s in h.steps or ()])
        return ResultsView(
            search_id=result.search_id,
            parent_id=result.parent_id,
            mode=result.query.mode,
            text=result.query.text,
            no_good_match=result.no_good_match,
            note=result.note,
            tiles=await self.tiles([h.shot for h in result.hits], result.hits),
        )

    async def structure(self, found: VideoStructure) -> StructureView:
        self._videos[found.video.video_id] = found.video
        shots = [shot for scene in found.scenes for shot in scene.shots]
        return StructureView(
            video_id=found.video.video_id,
            file_name=found.video.file_name,
            duration=found.video.duration,
            classes=len(found.classes),
            scenes=[
                SceneSpan(index=s.index, class_index=s.class_index, start=s.start, end=s.end)
                for s in found.scenes
            ],
            shots=await self.tiles(shots),
        )

    # media
    def media_path(self, shot: Shot) -> Path:
        """The shot's file, if it lies under the media roots (with none set and
        ``play_indexed``: if it is the file its video was indexed from)."""
        from shotseek.pipeline.media import confine

        roots = self.settings.media_root_paths
        record = self._videos.get(shot.video_id)
        if not roots and self.play_indexed and record is not None and record.path == shot.path:
            roots = [Path(shot.path).parent]
        path = confine(shot.path, roots)
        if not path.is_file():
            raise MediaAccessError(
                f"{Path(shot.path).name} is no longer at {shot.path}: index it again where it is"
            )
        return path

    async def play(self, shot_id: str) -> PlayView:
        shot = self.shot(shot_id)
        frame = _frame_seconds(await self.video(shot.video_id))
        path = await anyio.to_thread.run_sync(self.media_path, shot)
        from shotseek.pipeline.video import browser_playable

        if await anyio.to_thread.run_sync(browser_playable, path):
            return PlayView(
                src=f"/media/{shot_id}", start=shot.start, end=shot.end, frame=frame, proxy=False
            )
        proxy = self._proxies.get(shot_id)
        if proxy is None or not proxy.is_file():  # cut once by the clip operation, then kept
            folder = self.settings.data_dir / "proxies"
            report = await self.do(
                "clip", ClipRequest(shot_ids=[shot_id], mode="exact", folder=str(folder))
            )
            self._proxies[shot_id] = Path(report.clips[0].path)
        return PlayView(
            src=f"/proxy/{shot_id}", start=0.0, end=shot.end - shot.start, frame=frame, proxy=True
        )

    def sprite(self, shot_id: str) -> Path:
        """A strip of :data:`SPRITE_FRAMES` frames across the shot, made once and kept."""
        shot = self.shot(shot_id)
        target = self.settings.data_dir / "sprites" / f"{shot_id}.jpg"
        if target.is_file():
            return target
        import numpy as np
        from PIL import Image

        from shotseek.pipeline.video import frames_at

        path = self.media_path(shot)
        span = shot.end - shot.start
        times = [shot.start + span * (i + 0.5) / SPRITE_FRAMES for i in range(SPRITE_FRAMES)]
        frames = frames_at(path, times, short_side=SPRITE_HEIGHT)
        height = min(f.shape[0] for f in frames)
        row = np.concatenate([f[:height] for f in frames], axis=1)
        encoded = io.BytesIO()
        Image.fromarray(row).save(encoded, format="JPEG", quality=80)
        write_atomically(target, encoded.getvalue())  # no half sprite, no leftover part file
        return target


def _frame_seconds(record: VideoRecord | None) -> float:
    """One frame of the video's file (the page stops a shot on its last frame by it); 1/25 s
    for a video indexed before its clock was recorded."""
    return float(1 / record.clock.fps) if record is not None and record.clock else 1 / 25


def _steps(steps: list[Any]) -> list[StepTile]:
    return [
        StepTile(
            text=s.text,
            shot_id=s.shot.shot_id,
            start=s.shot.start,
            end=s.shot.end,
            start_tc=format_timecode(s.shot.start),
            end_tc=format_timecode(s.shot.end),
            score=s.score,
        )
        for s in steps
    ]


# -- requests ----------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _filled(name: str, values: dict[str, str]) -> str:
    """The template ``web/<name>`` with each ``{{key}}`` replaced by its value, as given."""
    text = (WEB / name).read_text("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def _page(name: str, **values: str) -> str:
    """A page with its values escaped for HTML text and attributes."""
    return _filled(name, {k: html.escape(v, quote=True) for k, v in values.items()})


#: The MCP Apps view of search results (:func:`app_view`), and its MIME type.
APP_VIEW_URI = "ui://shotseek/hits"
APP_VIEW_MIME = "text/html;profile=mcp-app"


def app_view() -> str:
    """The MCP Apps view as one HTML document (hosts load it whole): the gallery's stylesheet
    and tile code inlined, with its own script."""
    parts = {
        "css": (WEB / "gallery.css").read_text("utf-8"),
        "tiles_js": (WEB / "tiles.js").read_text("utf-8"),
        "app_js": (WEB / "app.js").read_text("utf-8"),
    }
    for key, value in parts.items():
        if "</" in value:  # would end the <script> or <style> element early
            raise ValueError(f"web/{key} holds '</', which cannot be inlined")
    return _filled("app.html", parts)


def gallery_app(
    settings: Settings, do: Doer, allowed_hosts: list[str] | None, play_indexed: bool = False
) -> Starlette:
    """The gallery as an ASGI app (its routes are listed in the module's docstring).
    ``play_indexed`` (``shotseek gallery``, the user's own loopback server): with no media roots
    set, the archive's indexed files themselves may be played, and nothing else."""
    gallery = Gallery(settings, do, allowed_hosts, play_indexed)
    token = settings.token.get_secret_value().strip().encode() if settings.token else None

    def check_origin(request: Request) -> None:
        hosts = gallery.allowed_hosts
        if hosts is None:
            return
        if request.headers.get("host", "") not in hosts:
            raise Refused(421, "this server does not answer to that host name")
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] not in hosts:
            raise Refused(403, "requests from another site are refused")

    def session_of(request: Request) -> Session | None:
        return gallery.sessions.get(request.cookies.get(SESSION_COOKIE))

    def signed_in(request: Request) -> Session:
        """The request's session, signed in where a token is set, and its CSRF token checked on
        anything that changes state."""
        check_origin(request)
        session = session_of(request)
        if session is None or (token is not None and not session.signed_in):
            raise Refused(401, "sign in first: open the gallery's page")
        if request.method == "POST":
            given = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                raise Refused(403, "missing or stale CSRF token: reload the page")
        return session

    def with_cookie(response: Response, sid: str) -> Response:
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            path="/",
            secure=False,  # plain HTTP on loopback; a TLS proxy in front adds Secure
        )
        return response

    def guarded(handler: Callable[[Request], Awaitable[Response]]):
        async def endpoint(request: Request) -> Response:
            try:
                response = await handler(request)
            except Refused as exc:
                response = _error(exc.status, str(exc))
            except ValidationError as exc:
                response = _error(422, validation_message(exc))
            except UnknownShotError as exc:
                response = _error(404, str(exc))
            except MediaAccessError as exc:
                response = _error(403, str(exc))
            except ShotseekError as exc:
                response = _error(400, str(exc))
            except OSError as exc:  # a file gone or unreadable between two requests
                response = _error(500, f"could not read a file: {exc}")
            response.headers["content-security-policy"] = CSP
            response.headers["x-content-type-options"] = "nosniff"
            # not no-referrer: under it a form's POST carries "Origin: null"
            response.headers["referrer-policy"] = "same-origin"
            response.headers.setdefault("cache-control", "no-store")
            return response

        return endpoint

    async def index(request: Request) -> Response:
        check_origin(request)
        session, sid = session_of(request), None
        if session is None or (token is not None and not session.signed_in):
            if token is not None:
                return RedirectResponse("/login", status_code=303)
            sid, session = gallery.sessions.new()
        page = _page(
            "gallery.html",
            csrf=session.csrf,
            sprite_frames=str(SPRITE_FRAMES),
            rerank=str(DEFAULT_RERANK),
        )
        response = Response(page, media_type="text/html")
        return with_cookie(response, sid) if sid else response

    async def login_form(request: Request) -> Response:
        check_origin(request)
        if token is None:
            return RedirectResponse("/", status_code=303)
        sid, session = gallery.sessions.new()
        message = "wrong token" if request.query_params.get("failed") else ""
        page = _page("login.html", csrf=session.csrf, message=message)
        return with_cookie(Response(page, media_type="text/html"), sid)

    async def login(request: Request) -> Response:
        check_origin(request)
        session = session_of(request)
        form = await request.form()
        given_csrf = str(form.get("csrf", ""))
        if session is None or not hmac.compare_digest(given_csrf.encode(), session.csrf.encode()):
            raise Refused(403, "stale login form: open /login again")
        given = str(form.get("token", "")).strip().encode()
        if token is None or not hmac.compare_digest(given, token):
            return RedirectResponse("/login?failed=1", status_code=303)
        sid, _ = gallery.sessions.new(signed_in=True)  # a fresh id: no session fixation
        return with_cookie(RedirectResponse("/", status_code=303), sid)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
        suffix = Path(name).suffix
        if "/" in name or name.startswith(".") or suffix not in kinds:
            raise Refused(404, "no such file")
        asset = WEB / name
        if not asset.is_file():
            raise Refused(404, "no such file")
        response = Response(asset.read_bytes(), media_type=kinds[suffix])
        response.headers["cache-control"] = "no-cache"
        return response

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_HTTP_REQUEST_BYTES:
            raise Refused(413, "request too large")
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise Refused(400, f"the request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise Refused(400, "the request body must be a JSON object")
        return data

    async def api(request: Request) -> Response:
        signed_in(request)
        name = request.path_params["name"]
        data = await body(request)
        if name == "search":
            # JSON mode: image_data arrives as base64, as the socket sends it
            found = await do("search", SearchRequest.model_validate_json(json.dumps(data)))
            return JSONResponse((await gallery.results(found)).model_dump(mode="json"))
        if name == "refine":
            found = await do("refine", RefineRequest.model_validate(data))
            return JSONResponse((await gallery.results(found)).model_dump(mode="json"))
        if name == "structure":
            found = await do("structure", StructureRequest.model_validate(data))
            return JSONResponse((await gallery.structure(found)).model_dump(mode="json"))
        if name == "videos":
            listed = await do("videos", VideosRequest.model_validate(data))
            gallery.know(listed.videos)
            return JSONResponse(
                [
                    {
                        "video_id": v.video_id,
                        "file_name": v.file_name,
                        "duration": v.duration,
                        "n_shots": v.n_shots,
                    }
                    for v in listed.videos
                ]
            )
        if name == "export":
            if data.get("output") is not None:
                raise Refused(400, "the gallery chooses where exports are written")
            report = await do("export", ExportRequest.model_validate(data))
            return await anyio.to_thread.run_sync(_download, report.files)
        raise Refused(404, f"no operation {name[:40]!r} here; the page calls {', '.join(API)}")

    async def thumbnail(request: Request) -> Response:
        signed_in(request)
        from shotseek.pipeline.thumbnails import trusted_thumbnail

        shot = gallery.shot(request.path_params["shot_id"])
        path = trusted_thumbnail(settings, shot.thumbnail)
        if path is None:
            raise Refused(404, "this shot has no thumbnail")
        return _cached(FileResponse(path, media_type="image/jpeg"))

    async def sprite(request: Request) -> Response:
        signed_in(request)
        path = await anyio.to_thread.run_sync(gallery.sprite, request.path_params["shot_id"])
        return _cached(FileResponse(path, media_type="image/jpeg"))

    async def play(request: Request) -> Response:
        signed_in(request)
        view = await gallery.play(request.path_params["shot_id"])
        return JSONResponse(view.model_dump(mode="json"))

    async def media(request: Request) -> Response:
        signed_in(request)
        shot = gallery.shot(request.path_params["shot_id"])
        path = await anyio.to_thread.run_sync(gallery.media_path, shot)
        return FileResponse(path, media_type=_media_type(path))  # answers Range requests

    async def proxy(request: Request) -> Response:
        signed_in(request)
        return FileResponse(gallery.proxy(request.path_params["shot_id"]), media_type="video/mp4")

    routes = [
        Route("/", guarded(index)),
        Route("/login", guarded(login_form), methods=["GET"]),
        Route("/login", guarded(login), methods=["POST"]),
        Route("/static/{name}", guarded(static)),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Route("/api/{name}", guarded(api), methods=["POST"]),
        Route("/thumbnail/{shot_id}", guarded(thumbnail)),
        Route("/sprite/{shot_id}", guarded(sprite)),
        Route("/play/{shot_id}", guarded(play)),
        Route("/media/{shot_id}", guarded(media)),
        Route("/proxy/{shot_id}", guarded(proxy)),
    ]
    app = Starlette(routes=routes)
    app.state.gallery = gallery
    return app


#: The operations the page calls (``POST /api/<name>``).
API = ("search", "refine", "structure", "videos", "export")
assert all(name in SPECS for name in API)


def _cached(response: Response) -> Response:
    response.headers["cache-control"] = "private, max-age=3600"
    return response


def _media_type(path: Path) -> str:
    return {".webm": "video/webm", ".mov": "video/quicktime"}.get(path.suffix.lower(), "video/mp4")


def _download(paths: list[str]) -> Response:
    """An export as a download: the file, or a zip of several (an EDL per frame rate)."""
    if len(paths) == 1:
        path = Path(paths[0])
        return FileResponse(path, filename=path.name, media_type="application/octet-stream")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in paths:
            archive.write(name, Path(name).name)
    stem = Path(paths[0]).name.split(".")[0]
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{stem}.zip"'},
    )


# -- beside MCP --------------------------------------------------------------------------------


def beside(mcp_app: Any, gallery: Any) -> Callable:
    """One ASGI app: ``/mcp`` (and its lifespan) to the MCP app, every other path to the
    gallery."""

    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan" or scope.get("path", "").startswith("/mcp"):
            await mcp_app(scope, receive, send)
        else:
            await gallery(scope, receive, send)

    return app
