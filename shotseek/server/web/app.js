// The MCP Apps view of search_shots and refine_search: the hits as a grid inside the chat
// host (which renders this page in a sandboxed iframe and speaks JSON-RPC over postMessage).
// Thumbnails and clips are read through the host (resources/read), marks become a
// refine_search call through the host (tools/call): nothing here reaches the network itself.
"use strict";

(function () {
  const { el, tile, setMark, timecode } = window.shotseekTiles;
  const $ = (id) => document.getElementById(id);
  const pending = new Map();
  let nextId = 1;
  let view = null; // the SearchView shown
  const marks = new Map();

  function request(method, params) {
    const id = nextId++;
    window.parent.postMessage({ jsonrpc: "2.0", id, method, params }, "*");
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function notify(method, params) {
    window.parent.postMessage({ jsonrpc: "2.0", method, params: params || {} }, "*");
  }

  function say(text, isError) {
    $("status").textContent = text || "";
    $("status").className = isError ? "error" : "";
  }

  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return;
    const message = event.data || {};
    if (message.id !== undefined && pending.has(message.id) && !message.method) {
      const { resolve, reject } = pending.get(message.id);
      pending.delete(message.id);
      if (message.error) reject(new Error(message.error.message || "the host refused"));
      else resolve(message.result);
    } else if (message.method === "ui/notifications/tool-result") {
      show(message.params);
    } else if (message.method === "ui/resource-teardown" && message.id !== undefined) {
      window.parent.postMessage({ jsonrpc: "2.0", id: message.id, result: {} }, "*");
    }
  });

  function textOf(result) {
    return (result.content || []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
  }

  function show(result) {
    if (result.isError || !result.structuredContent) return say(textOf(result), true);
    view = result.structuredContent;
    marks.clear();
    const verdict = $("verdict");
    verdict.textContent = view.no_good_match
      ? "No good match: these are the nearest shots."
      : `${view.hits.length} shots, best first.`;
    verdict.className = view.no_good_match ? "no-match" : "";
    const grid = $("grid");
    grid.replaceChildren();
    for (const hit of view.hits) grid.append(hitTile(hit));
    update();
  }

  function hitTile(hit) {
    const name = hit.path.split(/[\\/]/).pop();
    const t = Object.assign({}, hit, {
      file_name: name, start_tc: timecode(hit.start), end_tc: timecode(hit.end),
    });
    const li = tile(t, null, 0);
    const img = li.querySelector("img.key");
    read(`shotseek://shots/${hit.shot_id}/thumbnail`)
      .then((blob) => { img.src = `data:image/jpeg;base64,${blob}`; })
      .catch(() => { img.alt = `no thumbnail for ${name}`; });
    li.querySelector(".plus").addEventListener("click", () => mark(li, 1));
    li.querySelector(".minus").addEventListener("click", () => mark(li, -1));
    li.querySelector(".thumb").addEventListener("click", () => play(li, hit));
    li.addEventListener("keydown", (event) => {
      if (event.target !== li) return;
      if (event.key === "Enter") play(li, hit);
      else if (event.key === "+" || event.key === "=") mark(li, 1);
      else if (event.key === "-") mark(li, -1);
    });
    return li;
  }

  async function read(uri) {
    const answer = await request("resources/read", { uri });
    const content = (answer.contents || [])[0];
    if (!content || !content.blob) throw new Error(`nothing to read at ${uri}`);
    return content.blob;
  }

  function mark(li, value) {
    const id = li.dataset.shot;
    const now = marks.get(id) === value ? 0 : value;
    if (now) marks.set(id, now);
    else marks.delete(id);
    setMark(li, now);
    update();
  }

  function update() {
    const plus = [...marks.values()].filter((m) => m === 1).length;
    $("refine").disabled = marks.size === 0;
    $("marks").textContent = marks.size ? `${plus} +, ${marks.size - plus} \u2212` : "";
  }

  async function refine() {
    const positive = [...marks].filter(([, m]) => m === 1).map(([id]) => id);
    const negative = [...marks].filter(([, m]) => m === -1).map(([id]) => id);
    say("refining\u2026");
    try {
      const result = await request("tools/call", {
        name: "refine_search",
        arguments: Object.assign(
          { search_id: view.search_id, include_thumbnails: false },
          positive.length ? { positive } : {},
          negative.length ? { negative } : {}),
      });
      show(result);
      if (!result.isError) say("");
    } catch (e) {
      say(e.message, true);
    }
  }

  // A shot plays from a clip cut to its frames (clip_shots), read through the host as data:
  // the host's default content security policy admits data: media, and no server origin.
  async function play(li, hit) {
    const frame = li.querySelector(".thumb");
    say("cutting the shot\u2026");
    try {
      const cut = await request("tools/call", { name: "clip_shots", arguments: { shot_ids: [hit.shot_id] } });
      if (cut.isError) throw new Error(textOf(cut));
      const blob = await read(cut.structuredContent.files[0]);
      let video = frame.querySelector("video");
      if (!video) {
        video = el("video", "player");
        video.controls = true;
        frame.append(video);
      }
      video.src = `data:video/mp4;base64,${blob}`;
      await video.play().catch(() => { video.muted = true; return video.play(); });
      say("");
    } catch (e) {
      say(e.message, true);
    }
  }

  $("refine").addEventListener("click", refine);
  new ResizeObserver(() => {
    notify("ui/notifications/size-changed", {
      width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight,
    });
  }).observe(document.body);

  request("ui/initialize", {
    appCapabilities: { availableDisplayModes: ["inline"] },
    appInfo: { name: "shotseek results", version: "1" },
    protocolVersion: "2026-01-26",
  }).then(() => notify("ui/notifications/initialized"))
    .catch((e) => say(`the host did not answer ui/initialize: ${e.message}`, true));
})();
