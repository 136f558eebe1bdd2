// One found shot as a tile, for the gallery and for the MCP Apps view. Everything a shot
// carries (file names, captions, queries) is written as text, never parsed as HTML.
"use strict";

(function () {
  function timecode(seconds) {
    // as shotseek.pipeline.timecode.format_timecode: HH:MM:SS.mmm, rounded to the millisecond
    const ms = Math.round(seconds * 1000);
    const pad = (n, w) => String(n).padStart(w, "0");
    return `${pad(Math.floor(ms / 3600000), 2)}:${pad(Math.floor(ms / 60000) % 60, 2)}:` +
      `${pad(Math.floor(ms / 1000) % 60, 2)}.${pad(ms % 1000, 3)}`;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // t: {shot_id, file_name, start_tc, end_tc, source_tc, rank, score, caption, match,
  //     explanation}; thumb: the keyframe's URL; marks: the shot's mark (1, -1 or 0)
  function tile(t, thumb, mark) {
    const li = el("li", "tile");
    li.tabIndex = 0;
    li.dataset.shot = t.shot_id;
    li.setAttribute("aria-label",
      `${t.rank ? "hit " + t.rank + ": " : ""}${t.file_name} ${t.start_tc} to ${t.end_tc}`);
    const frame = el("div", "thumb");
    const img = el("img", "key");
    img.alt = `Keyframe of ${t.file_name} at ${t.start_tc}`;
    img.loading = "lazy";
    if (thumb) img.src = thumb;
    frame.append(img);
    li.append(frame);
    const head = el("div", "head");
    if (t.rank) head.append(el("span", "rank", `#${t.rank}`));
    if (t.score !== null && t.score !== undefined) {
      head.append(el("span", "score", t.score.toFixed(3)));
    }
    const markers = el("span", "markers");
    const plus = el("button", "mark plus", "+");
    plus.type = "button";
    plus.setAttribute("aria-label", "More like this");
    const minus = el("button", "mark minus", "\u2212");
    minus.type = "button";
    minus.setAttribute("aria-label", "Less like this");
    markers.append(plus, minus);
    head.append(markers);
    li.append(head);
    li.append(el("div", "file", t.file_name));
    li.append(el("div", "tc", `${t.start_tc} \u2013 ${t.end_tc}`));
    if (t.source_tc) li.append(el("div", "source-tc", `source TC ${t.source_tc}`));
    if (t.match !== null && t.match !== undefined) {
      li.append(el("div", t.match ? "verdict yes" : "verdict no",
        t.match ? "VLM: shows it" : "VLM: does not show it"));
    }
    for (const step of (t.steps || []).slice(1)) {
      li.append(el("div", "step", `then ${step.text}: ${step.start_tc} \u2013 ${step.end_tc}`));
    }
    if (t.caption) li.append(el("div", "caption", t.caption));
    if (t.explanation) li.append(el("div", "explanation", t.explanation));
    setMark(li, mark || 0);
    return li;
  }

  function setMark(li, mark) {
    li.dataset.mark = String(mark);
    li.querySelector(".plus").setAttribute("aria-pressed", String(mark === 1));
    li.querySelector(".minus").setAttribute("aria-pressed", String(mark === -1));
  }

  window.shotseekTiles = { timecode, el, tile, setMark };
})();
