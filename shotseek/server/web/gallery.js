// The gallery page: search, play, mark, refine, compare, export, and a video's structure.
// It talks to the server only through fetch() with the session's CSRF token; it writes what
// the server sends as text (tiles.js), never as HTML.
"use strict";

(function () {
  const { el, tile, setMark } = window.shotseekTiles;
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const spriteFrames = Number(document.querySelector('meta[name="sprite-frames"]').content);
  const RERANK = Number(document.querySelector('meta[name="rerank"]').content);

  const state = {
    chain: [], // the results shown, search then each refinement
    at: -1, // which of them is shown
    marks: new Map(), // shot_id -> 1 | -1, for the next refinement
    selected: new Set(), // shot_ids chosen for export
    image: null, // the query image, base64
    imageName: null,
  };

  // -- talking to the server ---------------------------------------------------------------

  async function call(name, body) {
    const response = await fetch(`/api/${name}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(await reason(response));
    return response;
  }

  async function reason(response) {
    try {
      return (await response.json()).error || response.statusText;
    } catch (e) {
      return `${response.status} ${response.statusText}`;
    }
  }

  function say(text, isError) {
    const status = $("status");
    status.textContent = text || "";
    status.className = isError ? "error" : "";
  }

  // -- the search form ---------------------------------------------------------------------

  function seconds(text, what) {
    const value = text.trim();
    if (!value) return null;
    const parts = value.split(":").map(Number);
    if (parts.some((p) => !Number.isFinite(p) || p < 0) || parts.length > 3) {
      throw new Error(`${what}: write seconds (75.5) or a timecode (00:01:15.5), not "${value}"`);
    }
    return parts.reduce((total, part) => total * 60 + part, 0);
  }

  function query(mode) {
    const text = $("q").value.trim();
    if (!text && !state.image) throw new Error("type what to find, or drop an image");
    const videos = [...$("videos").selectedOptions].map((o) => o.value);
    const minScore = $("min-score").value.trim();
    const q = {
      text: text || null,
      image_weight: Number($("weight").value),
      videos: videos.length ? videos : null,
      after: seconds($("after").value, "after"),
      before: seconds($("before").value, "before"),
      min_score: minScore ? Number(minScore) : null,
      limit: Number($("limit").value) || 24,
      mode: mode || $("mode").value,
    };
    const then = $("then").value.split(";").map((step) => step.trim()).filter(Boolean);
    if (then.length && !mode) { // a sequence: runs of shots, one per step
      q.then = then;
      q.within = seconds($("within").value.replace(/s$/, ""), "within") || 30;
    }
    return { query: q, image_data: state.image };
  }

  async function search(event) {
    if (event) event.preventDefault();
    let body;
    try {
      body = query();
    } catch (e) {
      return say(e.message, true);
    }
    say("searching\u2026");
    try {
      const result = await (await call("search", body)).json();
      state.chain = [result];
      state.at = 0;
      state.marks.clear();
      state.selected.clear();
      show("results");
      showResults();
      say("");
    } catch (e) {
      say(e.message, true);
    }
  }

  async function refine() {
    const current = state.chain[state.at];
    if (!current) return;
    const positive = [...state.marks].filter(([, m]) => m === 1).map(([id]) => id);
    const negative = [...state.marks].filter(([, m]) => m === -1).map(([id]) => id);
    say("refining\u2026");
    try {
      const result = await (await call("refine", {
        search_id: current.search_id,
        positive: positive.length ? positive : null,
        negative: negative.length ? negative : null,
      })).json();
      state.chain = state.chain.slice(0, state.at + 1).concat([result]);
      state.at = state.chain.length - 1;
      state.marks.clear();
      showResults();
      say("");
    } catch (e) {
      say(e.message, true);
    }
  }

  // -- results -----------------------------------------------------------------------------

  function showResults() {
    const result = state.chain[state.at];
    const grid = $("grid");
    grid.replaceChildren();
    if (!result) return;
    const verdict = $("verdict");
    if (result.no_good_match === true) {
      verdict.textContent = "No good match: these are the nearest shots, but none scores like a real find.";
      verdict.className = "no-match";
    } else if (result.no_good_match === false) {
      verdict.textContent = `${result.tiles.length} shots, best first.`;
      verdict.className = "";
    } else {
      verdict.textContent = `${result.tiles.length} shots, best first (still calibrating what a good score is).`;
      verdict.className = "";
    }
    if (result.note) verdict.append(el("span", "note", ` ${result.note}`));
    appendTiles(grid, result, 0);
    crumbs();
    updateActions();
  }

  // A screenful first, the rest a chunk per animation frame: the first tiles paint as soon
  // for 500 hits as for 24.
  const CHUNK = 48;

  function appendTiles(grid, result, from) {
    if (state.chain[state.at] !== result) return; // another result is shown meanwhile
    const chunk = document.createDocumentFragment();
    for (const t of result.tiles.slice(from, from + CHUNK)) chunk.append(resultTile(t));
    grid.append(chunk);
    if (from + CHUNK < result.tiles.length) {
      requestAnimationFrame(() => appendTiles(grid, result, from + CHUNK));
    }
  }

  function resultTile(t) {
    const li = tile(t, `/thumbnail/${encodeURIComponent(t.shot_id)}`, state.marks.get(t.shot_id));
    li.dataset.start = t.start;
    li.dataset.end = t.end;
    const pick = el("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.checked = state.selected.has(t.shot_id);
    pick.setAttribute("aria-label", `Select ${t.file_name} ${t.start_tc} for export`);
    pick.addEventListener("change", () => {
      if (pick.checked) state.selected.add(t.shot_id);
      else state.selected.delete(t.shot_id);
      updateActions();
    });
    const open = el("button", "open-video", "video");
    open.type = "button";
    open.setAttribute("aria-label", `Open the structure of ${t.file_name}`);
    open.addEventListener("click", () => openVideo(t.video_id));
    li.querySelector(".head").append(pick, open);
    li.querySelector(".plus").addEventListener("click", () => mark(li, 1));
    li.querySelector(".minus").addEventListener("click", () => mark(li, -1));
    const thumb = li.querySelector(".thumb");
    thumb.addEventListener("click", () => playIn(li, t));
    thumb.addEventListener("mousemove", (event) => scrub(thumb, t, event));
    thumb.addEventListener("mouseleave", () => thumb.classList.remove("scrubbing"));
    return li;
  }

  function mark(li, value) {
    const id = li.dataset.shot;
    const now = state.marks.get(id) === value ? 0 : value;
    if (now) state.marks.set(id, now);
    else state.marks.delete(id);
    setMark(li, now);
    updateActions();
  }

  function updateActions() {
    const plus = [...state.marks.values()].filter((m) => m === 1).length;
    const minus = state.marks.size - plus;
    $("refine").disabled = state.marks.size === 0;
    $("marks").textContent = state.marks.size ? `${plus} +, ${minus} \u2212` : "";
    const result = state.chain[state.at];
    $("export").disabled = !result || result.tiles.length === 0;
    $("export").textContent = state.selected.size
      ? `Export ${state.selected.size} selected` : "Export all";
  }

  function crumbs() {
    const nav = $("crumbs");
    nav.replaceChildren();
    state.chain.forEach((result, i) => {
      const label = i === 0 ? `search: ${result.text || "image"}` : `refined ${i}`;
      const crumb = el("button", i === state.at ? "crumb current" : "crumb", label);
      crumb.type = "button";
      if (i === state.at) crumb.setAttribute("aria-current", "page");
      crumb.addEventListener("click", () => {
        state.at = i;
        state.marks.clear();
        show("results");
        showResults();
      });
      nav.append(crumb);
    });
  }

  // -- hover scrub and playback ------------------------------------------------------------

  function scrub(thumb, t, event) {
    if (thumb.querySelector("video")) return;
    if (!thumb.dataset.sprite) {
      thumb.dataset.sprite = "loading";
      const sprite = new Image();
      sprite.onload = () => {
        thumb.dataset.sprite = "ready";
        thumb.style.backgroundImage = `url("/sprite/${encodeURIComponent(t.shot_id)}")`;
        thumb.style.backgroundSize = `${spriteFrames * 100}% 100%`;
      };
      sprite.src = `/sprite/${encodeURIComponent(t.shot_id)}`;
      return;
    }
    if (thumb.dataset.sprite !== "ready") return;
    const box = thumb.getBoundingClientRect();
    const at = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 0.999);
    const frame = Math.floor(at * spriteFrames);
    thumb.style.backgroundPosition = `${(frame / (spriteFrames - 1)) * 100}% 0`;
    thumb.classList.add("scrubbing");
  }

  // Plays [start, end) of the file at info.src in `video`: from the first frame, paused on
  // the last (end is where the next shot begins).
  async function playSpan(video, info, start, end) {
    const last = end - info.frame;
    video.dataset.start = start;
    video.dataset.end = end;
    video.dataset.frame = info.frame;
    const stop = () => {
      video.pause();
      video.currentTime = last;
    };
    delete video.dataset.firstShown;
    const run = (video.shotseekRun = (video.shotseekRun || 0) + 1); // a later play ends this one
    const watch = (now, meta) => {
      if (video.shotseekRun !== run) return;
      if (video.dataset.firstShown === undefined) video.dataset.firstShown = meta.mediaTime;
      if (meta.mediaTime >= last - info.frame / 2) return stop();
      video.requestVideoFrameCallback(watch);
    };
    video.ontimeupdate = () => {
      if (video.shotseekRun === run && video.currentTime >= end) stop();
    };
    if (!video.src.endsWith(info.src)) {
      video.src = info.src;
      await new Promise((resolve, reject) => {
        video.onloadedmetadata = resolve;
        video.onerror = () => reject(new Error("the browser cannot play this file"));
      });
    }
    // watch from the frame the seek presents: the first one shown is the shot's first
    if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(watch);
    video.currentTime = start;
    await new Promise((resolve) => { video.onseeked = resolve; });
    try {
      await video.play();
    } catch (e) {
      video.muted = true; // a browser that allows only silent autoplay
      await video.play();
    }
  }

  async function playInfo(shotId) {
    const response = await fetch(`/play/${encodeURIComponent(shotId)}`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(await reason(response));
    return response.json();
  }

  async function playIn(li, t) {
    const thumb = li.querySelector(".thumb");
    let video = thumb.querySelector("video");
    try {
      if (!video) {
        say("opening the shot\u2026");
        video = el("video", "player");
        video.controls = true;
        video.preload = "auto";
        video.setAttribute("aria-label", `${t.file_name} ${t.start_tc} to ${t.end_tc}`);
        thumb.append(video);
        thumb.classList.add("playing");
      }
      const info = await playInfo(t.shot_id);
      // a sequence plays its whole run, first step to last (one file, unless it is a proxy)
      const last = t.steps && !info.proxy ? t.steps[t.steps.length - 1].end : info.end;
      await playSpan(video, info, info.start, last);
      say(info.proxy ? "playing a proxy cut for the browser (the file's codec is not one it plays)" : "");
    } catch (e) {
      say(e.message, true);
    }
  }

  // -- export ------------------------------------------------------------------------------

  async function exportShots() {
    const result = state.chain[state.at];
    if (!result) return;
    const body = { format: $("format").value, order: $("order").value };
    if (state.selected.size) body.shot_ids = [...state.selected];
    else body.search_id = result.search_id;
    say("exporting\u2026");
    try {
      const response = await call("export", body);
      const disposition = response.headers.get("content-disposition") || "";
      const name = (/filename="?([^";]+)"?/.exec(disposition) || [null, "shotseek-export"])[1];
      const link = el("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = name;
      document.body.append(link);
      link.click();
      link.remove();
      say(`exported ${name}`);
    } catch (e) {
      say(e.message, true);
    }
  }

  // -- a video's structure -----------------------------------------------------------------

  async function openVideo(videoId) {
    say("reading the video's structure\u2026");
    try {
      const found = await (await call("structure", { video: videoId })).json();
      show("video");
      drawStructure(found);
      say("");
    } catch (e) {
      say(e.message, true);
    }
  }

  function span(className, start, end, duration, label) {
    const node = el("button", className);
    node.type = "button";
    node.style.left = `${(start / duration) * 100}%`;
    node.style.width = `${Math.max(((end - start) / duration) * 100, 0.2)}%`;
    node.title = label;
    node.setAttribute("aria-label", label);
    return node;
  }

  function drawStructure(found) {
    $("video-title").textContent = `${found.file_name}: ${found.classes} classes, ` +
      `${found.scenes.length} scenes, ${found.shots.length} shots`;
    const line = $("timeline");
    line.replaceChildren();
    const scenes = el("div", "row scenes");
    const shots = el("div", "row shots");
    const { timecode } = window.shotseekTiles;
    const firstShot = new Map();
    for (const s of found.shots) if (!firstShot.has(s.scene)) firstShot.set(s.scene, s);
    for (const scene of found.scenes) {
      const label = `scene ${scene.index + 1} (class ${scene.class_index + 1}): ` +
        `${timecode(scene.start)} \u2013 ${timecode(scene.end)}`;
      const node = span("span scene", scene.start, scene.end, found.duration, label);
      node.style.backgroundColor = `hsl(${(scene.class_index * 67) % 360} 55% 55%)`;
      node.dataset.class = scene.class_index;
      node.addEventListener("click", () => playStructure(firstShot.get(scene.index), scene.start, scene.end));
      scenes.append(node);
    }
    for (const shot of found.shots) {
      const label = `shot ${shot.index + 1}: ${shot.start_tc} \u2013 ${shot.end_tc}` +
        (shot.source_tc ? ` (source TC ${shot.source_tc})` : "");
      const node = span("span shot", shot.start, shot.end, found.duration, label);
      node.dataset.shot = shot.shot_id;
      node.addEventListener("click", () => playStructure(shot, shot.start, shot.end));
      shots.append(node);
      if (shot.index > 0 && shot.boundary === "cut") {
        const cut = el("div", "cut");
        cut.style.left = `${(shot.start / found.duration) * 100}%`;
        cut.title = `camera cut at ${shot.start_tc}`;
        line.append(cut);
      }
    }
    line.prepend(scenes, shots);
  }

  async function playStructure(shot, start, end) {
    if (!shot) return;
    try {
      const info = await playInfo(shot.shot_id);
      const offset = info.proxy ? -shot.start : 0; // a proxy holds one shot from its own zero
      const player = $("video-player");
      await playSpan(player, info, info.proxy ? info.start : start + offset, info.proxy ? info.end : end + offset);
    } catch (e) {
      say(e.message, true);
    }
  }

  // -- compare: one query, three modes -----------------------------------------------------

  async function compare() {
    let bodies;
    try {
      bodies = ["clip", "caption", "hybrid"].map((mode) => [mode, query(mode)]);
      if ($("compare-rerank").checked) { // CLIP's hits judged and reordered by the VLM
        const reranked = query("clip");
        reranked.query.rerank = Math.min(reranked.query.limit, RERANK);
        bodies.push(["reranked", reranked]);
      }
    } catch (e) {
      return say(e.message, true);
    }
    say(`searching ${bodies.length} ways\u2026`);
    show("compare");
    const columns = $("columns");
    columns.replaceChildren();
    const answers = await Promise.all(bodies.map(async ([mode, body]) => {
      try {
        return [mode, await (await call("search", body)).json(), null];
      } catch (e) {
        return [mode, null, e.message];
      }
    }));
    const seen = new Map();
    for (const [, result] of answers) {
      for (const t of result ? result.tiles : []) seen.set(t.shot_id, (seen.get(t.shot_id) || 0) + 1);
    }
    const titles = {
      clip: "CLIP (pictures)", caption: "captions", hybrid: "hybrid", reranked: "CLIP, reranked by the VLM",
    };
    for (const [mode, result, error] of answers) {
      const column = el("section", "column");
      column.dataset.mode = mode;
      column.append(el("h2", null, titles[mode]));
      if (error) column.append(el("p", "error", error));
      else {
        if (result.no_good_match) column.append(el("p", "no-match", "No good match."));
        const list = el("ol", "grid compact");
        for (const t of result.tiles) {
          const li = tile(t, `/thumbnail/${encodeURIComponent(t.shot_id)}`, 0);
          li.querySelector(".markers").remove();
          if (seen.get(t.shot_id) > 1) {
            li.classList.add("shared");
            li.append(el("div", "shared-note", `found by ${seen.get(t.shot_id)} modes`));
          }
          list.append(li);
        }
        column.append(list);
      }
      columns.append(column);
    }
    say("shots found by more than one mode are outlined");
  }

  // -- views, image input, keyboard --------------------------------------------------------

  function show(view) {
    $("results-view").hidden = view !== "results";
    $("video-view").hidden = view !== "video";
    $("compare-view").hidden = view !== "compare";
    if (view !== "video") $("video-player").pause();
  }

  function takeImage(file) {
    if (!file || !file.type.startsWith("image/")) return say("that is not an image", true);
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      state.image = url.slice(url.indexOf(",") + 1);
      state.imageName = file.name;
      $("drop-preview").src = url;
      $("drop-preview").hidden = false;
      $("drop-label").textContent = file.name || "pasted image";
      $("clear-image").hidden = false;
    };
    reader.readAsDataURL(file);
  }

  function clearImage() {
    state.image = null;
    $("drop-preview").hidden = true;
    $("drop-preview").removeAttribute("src");
    $("drop-label").textContent = "drop or paste an image";
    $("clear-image").hidden = true;
    $("image").value = "";
  }

  function moveFocus(key) {
    const tiles = [...document.querySelectorAll("#grid .tile")];
    const at = tiles.indexOf(document.activeElement);
    if (at < 0) return tiles[0] && tiles[0].focus();
    const perRow = tiles.filter((t) => t.offsetTop === tiles[0].offsetTop).length || 1;
    const step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: perRow, ArrowUp: -perRow }[key];
    const next = tiles[Math.min(Math.max(at + step, 0), tiles.length - 1)];
    next.focus();
  }

  function onKey(event) {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("q").focus();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    const li = event.target.closest && event.target.closest("#grid .tile");
    if (event.key.startsWith("Arrow") && !$("results-view").hidden) {
      event.preventDefault();
      moveFocus(event.key);
    } else if (li && event.key === "Enter" && event.target === li) {
      event.preventDefault();
      li.querySelector(".thumb").click();
    } else if (li && (event.key === "+" || event.key === "=")) {
      mark(li, 1);
    } else if (li && event.key === "-") {
      mark(li, -1);
    }
  }

  async function loadVideos() {
    try {
      const videos = await (await call("videos", {})).json();
      const select = $("videos");
      for (const v of videos) {
        const option = el("option", null, `${v.file_name} (${v.n_shots} shots)`);
        option.value = v.video_id;
        select.append(option);
      }
      if (!videos.length) say("the archive is empty: index some footage first (shotseek index FOLDER)");
    } catch (e) {
      say(e.message, true);
    }
  }

  $("search").addEventListener("submit", search);
  $("refine").addEventListener("click", refine);
  $("export").addEventListener("click", exportShots);
  $("compare").addEventListener("click", compare);
  for (const back of ["back", "back-compare"]) {
    $(back).addEventListener("click", () => { show("results"); say(""); });
  }
  $("image").addEventListener("change", () => takeImage($("image").files[0]));
  $("clear-image").addEventListener("click", clearImage);
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    takeImage(event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData || { items: [] }).items].find((i) => i.type.startsWith("image/"));
    if (item) takeImage(item.getAsFile());
  });
  document.addEventListener("keydown", onKey);
  loadVideos();
})();
