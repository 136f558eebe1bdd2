"""The gallery, used the way a person uses it: Debian's Chromium driven by Playwright against a
real ``shotseek serve --http`` with a token (login, search, play, mark, refine, the structure
timeline, export, compare), its guards hit the way an attacker would, and the MCP Apps view
rendered by a minimal host in a sandboxed iframe."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx2
import pytest

from tests.kit.archive import cli_env
from tests.kit.footage import Scene, make_footage, standard_footage
from tests.kit.servers import free_port, start_http_server, start_shotseek

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs it (.ci/run): there a missing browser fails, it is not skipped
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium; .ci/run does)",
)

TOKEN = "gallery-token-0123456789abcdef"
#: A file name and a caption that would run script if the page wrote them as HTML.
HOSTILE_NAME = "<img src=x onerror=window.pwned=1> \"quoted\" 'clip'.mp4"
HOSTILE_CAPTION = "a red circle <img src=x onerror=window.pwned=2><script>window.pwned=3</script>"
SCREENSHOT = Path(__file__).parents[1] / "docs" / "gallery.png"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """An indexed archive (one file with a hostile name, one caption with markup) behind
    ``shotseek serve --http`` with a token; its base URL and data folder."""
    from shotseek.pipeline.store import ShotStore
    from tests.kit.archive import indexed_store

    media = tmp_path_factory.mktemp("gallery-media")
    data = tmp_path_factory.mktemp("gallery-data")
    standard_footage(media / "standard.mp4")
    make_footage(media / HOSTILE_NAME, [Scene("red", "circle", 3.0), Scene("blue", "square", 3.0)])
    # 10-bit H.264 (as HDR cameras record): no browser plays it, the gallery cuts a proxy
    make_footage(media / "tenbit.mp4", [Scene("green", "star", 3.0)], pix_fmt="yuv420p10le")
    settings, store = indexed_store(media, data)
    with store:
        (model_id,) = store.models()
        hostile = next(v for v in store.list_videos(model_id) if v.file_name == HOSTILE_NAME)
        first = store.shots_of(model_id, hostile.video_id)[0]
        store.set_caption(model_id, first.shot_id, HOSTILE_CAPTION, caption_by="test")
    assert ShotStore  # the store is closed: the server opens it
    from tests.kit.ollama_standin import OllamaStandIn

    vlm = OllamaStandIn()  # the VLM, for the compare view's reranked column
    port = free_port()
    env = cli_env(data, token=TOKEN, media_roots=str(media), ollama_url=vlm.start())
    proc = start_http_server(env, port)
    try:
        yield {"url": f"http://127.0.0.1:{port}", "data": data, "media": media}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        vlm.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--autoplay-policy=no-user-gesture-required"],
        )
        yield launched
        launched.close()


def _signed_in(browser, url):
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url + "/")
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_selector("#q")
    return page, errors


def _search(page, text):
    page.fill("#q", text)
    page.click("#go")
    page.wait_for_selector("#grid .tile")
    return page.eval_on_selector_all("#grid .tile", "tiles => tiles.map(t => t.dataset.shot)")


def test_a_person_signs_in_searches_plays_marks_refines_exports_and_compares(
    server, browser, tmp_path
):
    url = server["url"]
    page, errors = _signed_in(browser, url)
    assert "token" not in page.url and TOKEN not in page.url

    # search: the tiles are the search operation's hits, with their timecodes
    order = _search(page, "a red circle")
    first = page.locator("#grid .tile").first
    tc = first.locator(".tc").inner_text()
    start, end = float(first.get_attribute("data-start")), float(first.get_attribute("data-end"))
    assert tc.startswith(_tc(start)) and tc.endswith(_tc(end))
    keyframe = page.locator("#grid .tile img.key").first
    assert keyframe.evaluate("i => i.complete && i.naturalWidth > 0")

    # play in place: from the shot's first frame, paused on its last
    first.locator(".thumb").click()
    video = first.locator("video")
    video.wait_for()
    page.wait_for_function(
        "v => v.dataset.firstShown !== undefined", arg=video.element_handle(), timeout=20_000
    )
    frame = float(video.get_attribute("data-frame"))
    at_start = video.evaluate("v => v.dataset.firstShown")
    page.wait_for_function(
        "v => v.paused && v.currentTime > 0", arg=video.element_handle(), timeout=30_000
    )
    stopped = video.evaluate("v => v.currentTime")
    assert at_start is not None and abs(float(at_start) - start) <= frame + 1e-3
    assert end - 2 * frame - 1e-3 <= stopped <= end, (stopped, end, frame)

    # mark the top tile "−" and refine: the order changes, the chain has two steps
    page.locator("#grid .tile").first.focus()
    page.keyboard.press("-")
    assert page.locator("#grid .tile").first.get_attribute("data-mark") == "-1"
    page.click("#refine")
    page.wait_for_function("() => document.querySelectorAll('#crumbs .crumb').length === 2")
    page.wait_for_selector("#grid .tile")
    refined = page.eval_on_selector_all("#grid .tile", "ts => ts.map(t => t.dataset.shot)")
    assert refined != order and order[0] not in refined

    # export the two first tiles as CSV: a download that parses, with those shots
    picks = page.locator("#grid .tile .pick")
    picks.nth(0).check()
    picks.nth(1).check()
    page.select_option("#format", "csv")
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    assert len(rows) == 2

    # the structure timeline of the top hit's video: one span per shot
    page.locator("#grid .tile .open-video").first.click()
    page.wait_for_selector("#timeline .shot")
    title = page.inner_text("#video-title")
    shots = int(title.split(",")[-1].split()[0])
    assert page.locator("#timeline .shot").count() == shots
    assert page.locator("#timeline .scene").count() >= 1
    page.locator("#timeline .shot").first.click()
    page.wait_for_function(
        "() => !document.getElementById('video-player').paused || "
        "document.getElementById('video-player').currentTime > 0"
    )

    # compare: three columns for one query, a fourth with the VLM's rerank when asked
    page.click("#back")
    page.click("#compare")
    page.wait_for_function("() => document.querySelectorAll('#columns .column').length === 3")
    modes = page.eval_on_selector_all("#columns .column", "cs => cs.map(c => c.dataset.mode)")
    assert modes == ["clip", "caption", "hybrid"]
    assert page.locator("#columns .tile.shared").count() > 0  # found by several modes
    page.check("#compare-rerank")
    page.click("#compare")
    page.wait_for_function("() => document.querySelectorAll('#columns .column').length === 4")
    reranked = page.locator('#columns .column[data-mode="reranked"]')
    assert reranked.locator(".error").count() == 0
    assert reranked.locator(".verdict").count() > 0  # the VLM's verdicts, shown as text
    page.click("#back-compare")
    # the README's picture, made here: GALLERY_SCREENSHOT=1 writes docs/gallery.png
    page.screenshot(path=SCREENSHOT if os.environ.get("GALLERY_SCREENSHOT") else tmp_path / "g.png")
    assert errors == []


def _tc(seconds: float) -> str:
    from shotseek.pipeline.timecode import format_timecode

    return format_timecode(seconds)


#: A minimal MCP Apps host: it renders the view in a sandboxed iframe under the spec's default
#: Content-Security-Policy, answers ui/initialize, sends the tool's input and result, and passes
#: the view's tools/call and resources/read on to the real server (window.mcp, from Python).
HOST = """<!doctype html><html><body><script>
window.seen = []; window.calls = [];
function post(frame, message) { frame.contentWindow.postMessage(message, '*'); }
window.addEventListener('message', async (event) => {
  const frame = document.getElementById('view');
  if (!frame || event.source !== frame.contentWindow) return;
  const m = event.data;
  window.seen.push(m.method || 'answer');
  const reply = (result) => post(frame, {jsonrpc: '2.0', id: m.id, result});
  if (m.method === 'ui/initialize') {
    reply({protocolVersion: '2026-01-26', hostInfo: {name: 'harness', version: '1'},
           hostCapabilities: {serverTools: {}, serverResources: {}},
           hostContext: {theme: 'light', displayMode: 'inline'}});
  } else if (m.method === 'ui/notifications/initialized') {
    post(frame, {jsonrpc: '2.0', method: 'ui/notifications/tool-input',
                 params: {arguments: window.toolInput}});
    post(frame, {jsonrpc: '2.0', method: 'ui/notifications/tool-result',
                 params: window.toolResult});
  } else if (m.method === 'tools/call' || m.method === 'resources/read') {
    window.calls.push(m.method + ' ' + (m.params.name || m.params.uri));
    const answer = JSON.parse(await window.mcp(m.method, JSON.stringify(m.params)));
    if (answer.error) {
      post(frame, {jsonrpc: '2.0', id: m.id, error: {code: -32000, message: answer.error}});
      return;
    }
    reply(answer);
  } else if (m.id !== undefined) {
    reply({});
  }
});
</script></body></html>"""
DEFAULT_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; media-src 'self' data:; connect-src 'none'"
)


def _mcp(url: str, method: str, params: dict) -> dict:
    """One MCP request to the server over HTTP with the token, on a thread of its own (the
    page's callback runs inside Playwright's event loop); its result as the wire has it."""
    import concurrent.futures

    import anyio
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def go():
        http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
        async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
            if method == "tools/call":
                result = await client.call_tool(params["name"], params.get("arguments") or {})
            else:
                result = await client.read_resource(params["uri"])
            return result.model_dump(by_alias=True, exclude_none=True, mode="json")

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(anyio.run, go).result()


def test_the_mcp_apps_view_shows_a_real_search_in_a_host_and_refines_through_it(server, browser):
    url = server["url"]
    listed = _mcp(url, "resources/read", {"uri": "ui://shotseek/hits"})
    (content,) = listed["contents"]
    assert content["mimeType"] == "text/html;profile=mcp-app"
    arguments = {"text": "a red circle", "limit": 6, "include_thumbnails": False}
    result = _mcp(url, "tools/call", {"name": "search_shots", "arguments": arguments})
    hits = result["structuredContent"]["hits"]
    assert hits and not result.get("isError")

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.expose_function("mcp", lambda method, params: json.dumps(_answer(url, method, params)))
    page.set_content(HOST)
    view = content["text"].replace(
        "<head>", f'<head><meta http-equiv="Content-Security-Policy" content="{DEFAULT_CSP}">', 1
    )
    page.evaluate(
        """([view, input, result]) => {
            window.toolInput = input; window.toolResult = result;
            const frame = document.createElement('iframe');
            frame.id = 'view'; frame.sandbox = 'allow-scripts'; frame.srcdoc = view;
            frame.style.width = '1000px'; frame.style.height = '800px';
            document.body.append(frame);
        }""",
        [view, arguments, result],
    )
    frame = page.frame_locator("#view")
    frame.locator("#grid .tile").nth(len(hits) - 1).wait_for()
    shown = frame.locator("#grid .tile").evaluate_all("ts => ts.map(t => t.dataset.shot)")
    assert shown == [h["shot_id"] for h in hits]
    # thumbnails inline, read through the host; file names written as text
    inner = page.frames[1]
    inner.wait_for_function(
        "() => [...document.querySelectorAll('#grid img.key')].every(i => i.naturalWidth > 0)"
    )
    assert inner.evaluate("() => window.pwned") is None
    names = frame.locator("#grid .tile .file").all_inner_texts()
    assert names == [Path(h["path"]).name for h in hits]

    # mark the top hit "−" and refine: refine_search goes through the host, the grid changes
    frame.locator("#grid .tile .minus").first.click()
    frame.locator("#refine").click()
    page.wait_for_function("() => window.calls.some(c => c.startsWith('tools/call refine_search'))")
    inner.wait_for_function(
        "first => document.querySelector('#grid .tile') && "
        "document.querySelector('#grid .tile').dataset.shot !== first",
        arg=hits[0]["shot_id"],
    )

    # play: a clip cut by clip_shots, read through the host as data, plays under the CSP
    frame.locator("#grid .tile .thumb").first.click()
    inner.wait_for_function(
        "() => { const v = document.querySelector('#grid video'); "
        "return v && v.currentTime > 0 && v.src.startsWith('data:video/mp4'); }",
        timeout=60_000,
    )
    calls = page.evaluate("() => window.calls")
    assert any(c.startswith("resources/read shotseek://clips/") for c in calls)
    assert errors == []
    page.close()


def _answer(url: str, method: str, params: str) -> dict:
    try:
        return _mcp(url, method, json.loads(params))
    except Exception as exc:  # the host answers the view with the error
        return {"error": str(exc)}


def _session(url: str) -> tuple[httpx2.Client, str]:
    """An HTTP client signed in through the login form, and the page's CSRF token."""
    client = httpx2.Client(base_url=url, timeout=120)
    form = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    signed = client.post("/login", data={"csrf": csrf, "token": TOKEN})
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    page = client.get("/").text
    return client, re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)


def test_the_gallery_refuses_what_a_hostile_page_or_client_would_send(server):
    url = server["url"]
    anonymous = httpx2.Client(base_url=url, timeout=60)
    assert anonymous.get("/").headers["location"] == "/login"  # a token is set: sign in first
    assert anonymous.post("/api/videos", json={}).status_code == 401
    assert anonymous.post("/mcp", json={}).status_code == 401  # MCP keeps its bearer token
    form = anonymous.get("/login")
    cookie = form.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    csp = form.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp
    wrong = anonymous.post("/login", data={"csrf": "stale", "token": TOKEN})
    assert wrong.status_code == 403  # a login form it did not serve
    import re

    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    refused = anonymous.post("/login", data={"csrf": csrf, "token": "not-the-token-at-all"})
    assert refused.headers["location"] == "/login?failed=1"
    assert "wrong token" in anonymous.get("/login?failed=1").text

    client, csrf = _session(url)
    headers = {"x-csrf-token": csrf}
    body = {"query": {"text": "a red circle", "limit": 50}}
    assert client.post("/api/search", json=body).status_code == 403  # no CSRF token
    assert client.post("/api/search", json=body, headers={"x-csrf-token": "x"}).status_code == 403
    evil = {**headers, "origin": "http://evil.example"}
    assert client.post("/api/search", json=body, headers=evil).status_code == 403
    assert client.get("/", headers={"host": "evil.example"}).status_code == 421  # rebinding
    bad = client.post("/api/search", json={"query": {"text": "x", "limit": 0}}, headers=headers)
    assert bad.status_code == 422 and "limit" in bad.json()["error"]
    export = {"format": "csv", "shot_ids": ["x"], "output": "/tmp/elsewhere.csv"}
    assert client.post("/api/export", json=export, headers=headers).status_code == 400
    assert client.post("/api/index", json={}, headers=headers).status_code == 404

    found = client.post("/api/search", json=body, headers=headers).json()
    tiles = {t["file_name"]: t for t in found["tiles"]}
    shot = tiles["standard.mp4"]["shot_id"]
    # media: only shots it sent, with range requests
    assert client.get("/media/00000000-0000-0000-0000-000000000000").status_code == 404
    part = client.get(f"/media/{shot}", headers={"range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    assert part.headers["content-range"].startswith("bytes 0-99/")
    assert client.get("/static/..%2Fgallery.py").status_code == 404
    assert client.get("/static/gallery.js").status_code == 200
    sprite = client.get(f"/sprite/{shot}")
    assert sprite.status_code == 200 and sprite.headers["content-type"] == "image/jpeg"

    # a file no browser plays (10-bit H.264) plays as a proxy cut by the clip operation
    tenbit = tiles["tenbit.mp4"]
    play = client.get(f"/play/{tenbit['shot_id']}").json()
    assert play["proxy"] and play["src"] == f"/proxy/{tenbit['shot_id']}"
    assert abs(play["end"] - (tenbit["end"] - tenbit["start"])) < 1e-6
    proxy = client.get(play["src"])
    assert proxy.status_code == 200 and proxy.content[4:8] == b"ftyp"
    from shotseek.pipeline.video import browser_playable

    made = next((server["data"] / "proxies").glob("*.mp4"))
    assert browser_playable(made)


def test_captions_and_file_names_are_shown_as_text_never_run(server, browser):
    page, errors = _signed_in(browser, server["url"])
    page.select_option("#mode", "caption")
    _search(page, "red circle")
    captions = page.locator("#grid .tile .caption").all_inner_texts()
    assert HOSTILE_CAPTION in captions
    assert HOSTILE_NAME in page.locator("#grid .tile .file").all_inner_texts()
    assert page.evaluate("() => window.pwned") is None
    tiles = page.locator("#grid .tile").count()
    assert page.locator("#grid img").count() == tiles  # the keyframes, no injected image
    assert errors == []
    page.context.close()


def test_the_gallery_command_beside_a_running_server_goes_through_its_socket(server):
    """`shotseek gallery` while `shotseek serve --http` holds the store: a second door onto the
    same archive (searches go through the server's socket; media from the roots)."""
    env = cli_env(server["data"], token=TOKEN, media_roots=str(server["media"]))
    proc, url = _gallery(env)
    try:
        client, csrf = _session(url)
        headers = {"x-csrf-token": csrf}
        found = client.post(
            "/api/search", json={"query": {"text": "a red circle"}}, headers=headers
        ).json()
        direct, direct_csrf = _session(server["url"])
        same = direct.post(
            "/api/search",
            json={"query": {"text": "a red circle"}},
            headers={"x-csrf-token": direct_csrf},
        ).json()
        assert [t["shot_id"] for t in found["tiles"]] == [t["shot_id"] for t in same["tiles"]]
        shot = found["tiles"][0]["shot_id"]
        assert client.get(f"/media/{shot}", headers={"range": "bytes=0-9"}).status_code == 206
        assert client.post("/mcp", json={}).status_code == 404  # MCP stays the server's
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert b"through the shotseek server running on" in proc.stderr.read()


def _gallery(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`shotseek gallery --no-browser` on a free port, once it answers; its URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ["gallery", "--no-browser", "--port", str(port)]
    return start_shotseek(args, env, url + "/favicon.ico"), url


def test_the_gallery_command_alone_serves_the_archive_and_plays_only_its_files(tmp_path):
    """`shotseek gallery` with no server running and no media roots: its own server (MCP
    beside it), no login without a token, and it plays the archive's own files only."""
    from tests.kit.archive import indexed_store

    media = tmp_path / "media"
    make_footage(media / "one.mp4", [Scene("red", "circle", 2.0), Scene("blue", "square", 2.0)])
    _, store = indexed_store(media, tmp_path / "data")
    store.close()
    # the browser webbrowser.open would start: a script that leaves a mark (--no-browser: none)
    opened, opener = tmp_path / "opened", tmp_path / "opener.sh"
    opener.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    opener.chmod(0o755)
    proc, url = _gallery({**cli_env(tmp_path / "data"), "BROWSER": str(opener)})
    try:
        client = httpx2.Client(base_url=url, timeout=120)
        page = client.get("/")
        assert page.status_code == 200  # no token: no login
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
        found = client.post(
            "/api/search", json={"query": {"text": "a red circle"}}, headers={"x-csrf-token": csrf}
        ).json()
        shot = found["tiles"][0]["shot_id"]
        assert client.get(f"/media/{shot}", headers={"range": "bytes=0-9"}).status_code == 206
        assert client.post("/mcp", json={}).status_code != 404  # MCP is served beside it
        assert not opened.exists()  # --no-browser is kept in a server of its own too
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_an_image_query_filters_hover_scrub_and_keys(server, browser, tmp_path):
    """The rest of the page, as a person uses it: a still chosen as the query, the video and
    time filters, hover scrubbing, and the keys (/ to search, arrows, Enter plays)."""
    from PIL import Image, ImageDraw

    still = tmp_path / "still.png"
    picture = Image.new("RGB", (320, 180), (60, 60, 60))
    ImageDraw.Draw(picture).ellipse((120, 50, 200, 130), fill=(220, 30, 30))
    picture.save(still)
    page, errors = _signed_in(browser, server["url"])

    # an image alone is a query
    page.set_input_files("#image", str(still))
    page.wait_for_selector("#drop-preview:not([hidden])")
    page.click("#go")
    page.wait_for_selector("#grid .tile")
    assert page.locator("#grid .tile").count() > 0

    # filters: one video, shots ending after 10 s and starting before 20 s
    page.click("#clear-image")
    page.fill("#q", "a shape")
    page.click("#filters summary")
    page.select_option(
        "#videos",
        label=next(
            o for o in page.locator("#videos option").all_inner_texts() if o.startswith("standard")
        ),
    )
    page.fill("#after", "00:00:10")
    page.fill("#before", "20")
    page.click("#go")
    page.wait_for_function("() => document.querySelector('#verdict').textContent.length > 0")
    page.wait_for_selector("#grid .tile")
    files = page.locator("#grid .tile .file").all_inner_texts()
    spans = page.eval_on_selector_all(
        "#grid .tile", "ts => ts.map(t => [Number(t.dataset.start), Number(t.dataset.end)])"
    )
    assert set(files) == {"standard.mp4"}
    assert all(end > 10 and start < 20 for start, end in spans), spans
    page.fill("#after", "soon")
    page.click("#go")
    page.wait_for_selector("#status.error")
    assert "after" in page.inner_text("#status")

    # hover scrubs through the shot's sprite
    thumb = page.locator("#grid .tile .thumb").first
    box = thumb.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.wait_for_function(
        "t => t.dataset.sprite === 'ready'", arg=thumb.element_handle(), timeout=20_000
    )
    page.mouse.move(box["x"] + box["width"] * 0.98, box["y"] + box["height"] / 2)
    assert thumb.evaluate("t => t.classList.contains('scrubbing')")
    assert thumb.evaluate("t => t.style.backgroundPosition").startswith("100%")

    # keys: / goes to the search box; arrows move between tiles; Enter plays
    page.locator("#grid .tile").first.focus()
    page.keyboard.press("ArrowRight")
    second = page.locator("#grid .tile").nth(1)
    assert second.evaluate("t => t === document.activeElement")
    page.keyboard.press("Enter")
    second.locator("video").wait_for()
    page.locator("#grid .tile").first.focus()
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "q"
    assert errors == []
    page.context.close()


def test_a_sequence_query_shows_each_run_with_its_steps(server, browser):
    """ "This, then that" from the page: the hits are runs, each tile lists its steps."""
    page, errors = _signed_in(browser, server["url"])
    page.fill("#q", "a blue circle")
    page.fill("#then", "a red square")
    page.fill("#within", "10s")
    page.click("#go")
    page.wait_for_selector("#grid .tile .step")
    top = page.locator("#grid .tile").first
    step = top.locator(".step").inner_text()
    assert step.startswith("then a red square: ")
    start, end = step.split(": ")[1].split(" \u2013 ")
    assert _tc(float(top.get_attribute("data-end"))) <= start < end
    assert "sequence" in page.inner_text("#verdict")
    assert errors == []
    page.context.close()
