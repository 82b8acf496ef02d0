"use strict";
// All data reaches the DOM through textContent / setAttribute with numbers or
// fixed class names, or is drawn on canvas: no string from a run is parsed as HTML.
(function () {
  const D = JSON.parse(document.getElementById("run-data").textContent);
  const SVGNS = "http://www.w3.org/2000/svg";
  const COLORS = ["#43a047", "#e53935", "#fbc02d"];
  const OUT = ["ok", "fail", "info"];
  const FAULT_FILL = "rgba(120,80,200,0.18)";
  const MEMBERSHIP_FILL = "rgba(0,150,136,0.75)";
  const END_US = Math.max(1, Math.round(D.end_s * 1e6));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }
  function row(tbody, cells, tag) {
    const tr = el("tr");
    for (const c of cells) tr.appendChild(el(tag || "td", null, c));
    tbody.appendChild(tr);
    return tr;
  }
  function vstr(v) { return v === true ? "valid" : v === false ? "INVALID" : v === null || v === undefined ? "not checked" : "unknown"; }
  function vcls(v) { return v === true ? "v-true" : v === false ? "v-false" : "v-unknown"; }
  function fmt(x, d) { return typeof x === "number" ? x.toFixed(d === undefined ? 3 : d) : "" + (x === null || x === undefined ? "" : x); }
  const faultStop = (f) => (f.stop === null || f.stop === undefined ? D.end_s : f.stop);

  // ---- nav + notes
  const nav = document.getElementById("nav");
  for (const s of document.querySelectorAll("section[data-section]")) {
    const a = el("a", null, s.dataset.section);
    a.setAttribute("href", "#" + s.id);
    nav.appendChild(a);
  }
  const notes = document.getElementById("notes");
  for (const n of D.notes) notes.appendChild(el("div", null, n));

  // ---- summary
  const verdict = document.getElementById("verdict");
  verdict.textContent = vstr(D.valid);
  verdict.classList.add(vcls(D.valid));
  const st = document.getElementById("summary-table");
  const T = D.test;
  const kv = [["system", T.system], ["workload", T.workload], ["backend", T.backend], ["nemesis", T.nemesis],
    ["nodes", T.nodes], ["seed", T.seed], ["bug", T.bug], ["duration (s)", fmt(D.duration_s)],
    ["ops ok / fail / info", D.counts.ok + " / " + D.counts.fail + " / " + D.counts.info],
    ["fail, info", "fail: the op certainly did not take effect (a cas whose compare failed, a write a " +
      "node without a leader refused): expected under faults and no sign of a bug. info: unknown " +
      "(timeout, crash): it may or may not have happened; the checker tries both"],
    ["faults", D.faults.length], ["concurrency", T.concurrency], ["run id", T.run_id]];
  for (const [k, v] of kv) { const tr = el("tr"); tr.appendChild(el("th", null, k)); tr.appendChild(el("td", null, v === undefined ? "" : v)); st.appendChild(tr); }
  const ctb = document.querySelector("#checkers tbody");
  const names = Object.keys(D.checkers);
  if (!names.length) row(ctb, ["(none)", vstr(null), "", ""]);
  for (const n of names) {
    const c = D.checkers[n];
    const tr = row(ctb, [n, vstr(c.valid), c.summary + (c.error ? " (error: " + c.error + ")" : ""), fmt(c.seconds, 2)]);
    tr.children[1].className = vcls(c.valid);
  }
  document.getElementById("command").textContent = D.command || "(no command recorded)";

  // ---- timeline (canvas, only the visible slice is drawn)
  const calls = D.calls;
  const nLanes = calls.reduce((m, c) => Math.max(m, c[2] + 1), 1);
  const LANE_H = 14, TOP = (D.membership && D.membership.length) ? 30 : 18;
  let byLane = [], openByLane = [];
  function buildLanes(key) {  // key: null = every key, else only that key's ops (independent keys)
    byLane = [];
    for (let i = 0; i < nLanes; i++) byLane.push([]);
    openByLane = byLane.map(() => []);
    for (const c of calls) if (key === null || c[7] === key) (c[4] < 0 ? openByLane[c[2]] : byLane[c[2]]).push(c);
    for (const lane of byLane) lane.sort((a, b) => a[3] - b[3]);
  }
  buildLanes(null);
  const canvas = document.getElementById("tl-canvas");
  const ctx = canvas.getContext("2d");
  const scroll = document.getElementById("tl-scroll");
  let v0 = 0, v1 = END_US;
  const callEnd = (c) => (c[4] < 0 ? END_US : c[4]);
  function draw() {
    const w = canvas.clientWidth || 800;
    const h = TOP + nLanes * LANE_H + 4;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); canvas.style.height = h + "px";
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const span = v1 - v0, sx = w / span;
    ctx.fillStyle = FAULT_FILL;
    for (const f of D.faults) {
      const a = (f.start * 1e6 - v0) * sx, b = (faultStop(f) * 1e6 - v0) * sx;
      if (b < 0 || a > w) continue;
      ctx.fillRect(a, 0, Math.max(2, b - a), h);
    }
    // the membership band: a strip across the top while nodes are out of the cluster
    for (const m of D.membership || []) {
      const a = (m.start * 1e6 - v0) * sx, b = ((m.stop === null ? END_US / 1e6 : m.stop) * 1e6 - v0) * sx;
      if (b < 0 || a > w) continue;
      ctx.fillStyle = m.removed.length ? MEMBERSHIP_FILL : "rgba(150,150,150,0.5)";
      ctx.fillRect(a, 13, Math.max(2, b - a), 14);
      ctx.fillStyle = "#fff"; ctx.font = "9px sans-serif";
      ctx.fillText("membership " + m.label, Math.max(a, 0) + 2, 24);
    }
    ctx.fillStyle = "#5e35b1"; ctx.font = "10px sans-serif";
    for (const f of D.faults) {
      const a = (f.start * 1e6 - v0) * sx;
      if (a >= -40 && a <= w) ctx.fillText(f.kind, Math.max(a, 0) + 2, h - 3);
    }
    ctx.fillStyle = FAULT_FILL;
    ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
    const step = niceStep(span / 1e6 / 8);
    for (let t = Math.ceil(v0 / 1e6 / step) * step; t * 1e6 <= v1; t += step) {
      const x = (t * 1e6 - v0) * sx;
      ctx.fillRect(x, 0, 1, 5); ctx.fillText(fmt(t, stepDigits(step)) + "s", x + 2, 10);
    }
    // only the slice of each lane in view, and at most one bar per pixel and outcome
    for (let l = 0; l < nLanes; l++) {
      const y = TOP + l * LANE_H, lane = byLane[l];
      let i = lowerBound(lane, v0);
      for (let back = 0; i > 0 && back < 64 && callEnd(lane[i - 1]) >= v0; back++) i--;
      const last = [-1, -1, -1];
      for (; i < lane.length && lane[i][3] <= v1; i++) drawBar(lane[i], y, sx, last);
      for (const c of openByLane[l]) if (c[3] <= v1) drawBar(c, y, sx, [-1, -1, -1]);
    }
    // row labels: each row is one client worker (process number modulo the concurrency)
    ctx.font = "9px sans-serif";
    for (let l = 0; l < nLanes; l++) {
      const y = TOP + l * LANE_H, label = "client " + l;
      ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(0, y, ctx.measureText(label).width + 4, LANE_H - 2);
      ctx.fillStyle = "#333"; ctx.fillText(label, 2, y + LANE_H - 4);
    }
    scroll.value = String(Math.round(1000 * v0 / Math.max(1, END_US - span)));
  }
  function stepDigits(step) { return Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9))); }
  function lowerBound(lane, t) {
    let lo = 0, hi = lane.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (lane[m][3] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function drawBar(c, y, sx, last) {
    const e = callEnd(c);
    if (e < v0) return;
    const a = (c[3] - v0) * sx, b = (e - v0) * sx, px = Math.floor(b);
    if (b - a < 1 && px <= last[c[5]]) return;
    last[c[5]] = px;
    ctx.fillStyle = COLORS[c[5]];
    ctx.fillRect(a, y + 1, Math.max(1, b - a), LANE_H - 3);
  }
  function niceStep(x) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(x, 1e-6))));
    for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }
  function zoom(factor, centerFrac) {
    const span = v1 - v0, c = v0 + span * (centerFrac === undefined ? 0.5 : centerFrac);
    let ns = Math.min(END_US, Math.max(50, span * factor));
    v0 = c - ns * (centerFrac === undefined ? 0.5 : centerFrac); v1 = v0 + ns;
    clamp(); schedule();
  }
  function clamp() {
    const span = v1 - v0;
    if (v0 < 0) { v0 = 0; v1 = span; }
    if (v1 > END_US) { v1 = END_US; v0 = Math.max(0, END_US - span); }
  }
  let pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } }
  document.getElementById("tl-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("tl-out").addEventListener("click", () => zoom(2));
  document.getElementById("tl-reset").addEventListener("click", () => { v0 = 0; v1 = END_US; schedule(); });
  scroll.addEventListener("input", () => {
    const span = v1 - v0; v0 = (END_US - span) * Number(scroll.value) / 1000; v1 = v0 + span; schedule();
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
      const d = (v1 - v0) * ev.deltaX / r.width; v0 += d; v1 += d; clamp(); schedule();
    } else zoom(ev.deltaY > 0 ? 1.25 : 0.8, (ev.clientX - r.left) / r.width);
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v0: v0, v1: v1 }; });
  window.addEventListener("mouseup", () => { drag = null; });
  const tip = document.getElementById("tooltip");
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    if (drag) {
      const d = (drag.x - ev.clientX) * (drag.v1 - drag.v0) / r.width;
      v0 = drag.v0 + d; v1 = drag.v1 + d; clamp(); schedule(); return;
    }
    const lane = Math.floor((ev.clientY - r.top - TOP) / LANE_H);
    const t = v0 + (ev.clientX - r.left) / r.width * (v1 - v0);
    const slack = 3 * (v1 - v0) / r.width;
    let hit = null;
    if (lane >= 0 && lane < nLanes) {
      const arr = byLane[lane];
      let i = lowerBound(arr, t + slack) - 1;
      for (let k = 0; i >= 0 && k < 64 && !hit; i--, k++) if (callEnd(arr[i]) + slack >= t) hit = arr[i];
      if (!hit) for (const c of openByLane[lane]) if (c[3] - slack <= t) { hit = c; break; }
    }
    if (!hit) { tip.hidden = true; return; }
    const lat = hit[4] < 0 ? "never completed" : fmt((hit[4] - hit[3]) / 1000, 2) + " ms";
    let text = "op #" + hit[0] + "  process " + hit[1] + "  " + OUT[hit[5]] + "\n" + hit[6] +
      (hit[7] ? " key=" + hit[7] : "") + "  " + hit[8] + (hit[5] === 0 ? " -> " + hit[9] : "") +
      "\ninvoke " + fmt(hit[3] / 1e6, 4) + "s  latency " + lat;
    if (hit[10]) text += "\nnode " + hit[10];
    if (hit[11]) text += "\nerror " + hit[11];
    tip.textContent = text;
    tip.hidden = false;
    tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
  });
  window.addEventListener("resize", schedule);
  const keySel = document.getElementById("tl-key");
  if (keySel && D.keys && D.keys.count > 1) {
    const opt = (value, label) => { const o = el("option", null, label); o.value = value; keySel.appendChild(o); };
    opt("", "all " + D.keys.count + " keys");
    for (const k of D.keys.list) opt(k.key, k.key + " (" + k.ops + " ops" + (k.failed ? ", FAILED" : "") + ")");
    keySel.addEventListener("change", () => {
      const k = keySel.value === "" ? null : keySel.value;
      buildLanes(k);
      const info = D.keys.list.find((x) => x.key === k);
      if (info) { v0 = Math.max(0, info.t0); v1 = Math.min(END_US, Math.max(info.t1, info.t0 + 1000)); } else { v0 = 0; v1 = END_US; }
      draw();
    });
  } else if (keySel) keySel.hidden = true;
  draw();

  // ---- latency and rate plots (SVG, fault bands)
  function plot(container, yLog, series, yLabel) {
    const W = 1000, H = 240, L = 55, R = 10, Tp = 24, B = 25;  // Tp leaves the axis title its own line
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none" });
    const xmax = Math.max(D.end_s, 1e-3);
    let ymin = Infinity, ymax = -Infinity;
    for (const se of series) for (const p of se.pts) { ymin = Math.min(ymin, p[1]); ymax = Math.max(ymax, p[1]); }
    if (!isFinite(ymin)) { ymin = yLog ? 0.1 : 0; ymax = 1; }
    if (yLog) { ymin = Math.max(ymin, 1e-3); ymax = Math.max(ymax, ymin * 10); } else { ymin = 0; ymax = Math.max(ymax, 1); }
    const ly = (y) => yLog ? Math.log10(Math.max(y, ymin)) : y;
    const y0 = ly(ymin), y1 = ly(ymax);
    const X = (x) => L + (W - L - R) * x / xmax;
    const Y = (y) => H - B - (H - B - Tp) * (ly(y) - y0) / ((y1 - y0) || 1);
    for (const f of D.faults) s.appendChild(svg("rect", { x: X(f.start), y: Tp, width: Math.max(1, X(faultStop(f)) - X(f.start)), height: H - B - Tp, fill: FAULT_FILL }));
    s.appendChild(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#888" }));
    s.appendChild(svg("line", { x1: L, y1: Tp, x2: L, y2: H - B, stroke: "#888" }));
    const ticks = yLog ? [] : [0, ymax / 2, ymax];
    if (yLog) for (let e = Math.floor(y0); e <= Math.ceil(y1); e++) ticks.push(Math.pow(10, e));
    for (const t of ticks) {
      if (ly(t) < y0 - 1e-9 || ly(t) > y1 + 1e-9) continue;
      const tx = svg("text", { x: L - 4, y: Y(t) + 4, "text-anchor": "end", "font-size": 11 }); tx.textContent = yLog ? String(t) : fmt(t, 0); s.appendChild(tx);
      s.appendChild(svg("line", { x1: L, y1: Y(t), x2: W - R, y2: Y(t), stroke: "#eee" }));
    }
    const step = niceStep(xmax / 10);
    for (let t = 0; t <= xmax; t += step) { const tx = svg("text", { x: X(t), y: H - 8, "text-anchor": "middle", "font-size": 11 }); tx.textContent = fmt(t, stepDigits(step)) + "s"; s.appendChild(tx); }
    const yl = svg("text", { x: L, y: 13, "font-size": 11 }); yl.textContent = yLabel; s.appendChild(yl);
    for (const se of series) {
      if (se.line) {
        const pts = se.pts.map((p) => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" ");
        s.appendChild(svg("polyline", { points: pts, fill: "none", stroke: se.color, "stroke-width": 1.5 }));
      } else {
        let d = "";
        for (const p of se.pts) d += "M" + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1) + "h2";
        s.appendChild(svg("path", { d: d, stroke: se.color, "stroke-width": 2, fill: "none" }));
      }
    }
    container.appendChild(s);
  }
  const MAX_POINTS = 20000;
  const lat = [[], [], []];
  const stride = Math.max(1, Math.ceil(calls.length / MAX_POINTS));
  calls.forEach((c, i) => { if (c[4] >= 0 && (c[5] !== 0 || i % stride === 0)) lat[c[5]].push([c[3] / 1e6, Math.max(0.001, (c[4] - c[3]) / 1000)]); });
  plot(document.getElementById("latency-plot"), true, [0, 1, 2].map((k) => ({ pts: lat[k], color: COLORS[k] })), "latency (ms, log)");
  const nb = Math.min(400, Math.max(10, Math.ceil(D.end_s)));
  const bw = Math.max(D.end_s, 1e-3) / nb;
  const rate = [new Array(nb).fill(0), new Array(nb).fill(0), new Array(nb).fill(0)];
  for (const c of calls) if (c[4] >= 0) rate[c[5]][Math.min(nb - 1, Math.floor(c[4] / 1e6 / bw))] += 1 / bw;
  plot(document.getElementById("rate-plot"), false, [0, 1, 2].map((k) => ({ line: true, color: COLORS[k], pts: rate[k].map((r, i) => [(i + 0.5) * bw, r]) })), "ops/s completed");

  // ---- faults table
  const ftb = document.querySelector("#fault-table tbody");
  if (!D.faults.length) row(ftb, ["", "", "", "no faults", ""]);
  D.faults.forEach((f, i) => row(ftb, [i, fmt(f.start), f.stop === null ? "(not healed)" : fmt(f.stop), f.kind, f.targets]));

  // ---- counterexamples
  const cx = document.getElementById("cx");
  let anyAnomaly = false;
  for (const n of names) {
    const byKind = {};
    for (const a of D.checkers[n].anomalies) if (a.data && a.data.element !== undefined) (byKind[a.kind] = byKind[a.kind] || []).push(a.data.element);
    for (const k of Object.keys(byKind)) {
      const p = el("p", "elements", n + ": " + k + " elements (" + byKind[k].length + "): " + byKind[k].map((e) => JSON.stringify(e)).join(", "));
      p.dataset.kind = k; cx.appendChild(p);
    }
  }
  for (const n of names) for (const a of D.checkers[n].anomalies) {
    anyAnomaly = true;
    const box = el("div", "cx-item");
    box.appendChild(el("h3", null, n + ": " + a.kind + (a.key ? " (key " + a.key + ")" : "")));
    const ex = el("p", null, a.explanation); ex.style.whiteSpace = "pre-line"; box.appendChild(ex);
    if (a.ops.length) box.appendChild(el("p", "muted", "ops: " + a.ops.join(", ")));
    if (a.data && Array.isArray(a.data.cycle) && Array.isArray(a.data.edges)) box.appendChild(cycleGraph(a.data));
    else if (a.data && a.data.element !== undefined) box.appendChild(el("p", null, "element: " + JSON.stringify(a.data.element)));
    cx.appendChild(box);
  }
  for (const c of D.counterexamples) { anyAnomaly = true; cx.appendChild(coreView(c)); }
  if (!anyAnomaly) cx.appendChild(el("p", "muted", D.valid === false ? "no anomaly details recorded" : "no anomaly found"));

  function cycleGraph(data) {
    const nodes = data.cycle.map((t) => t.index);
    const n = nodes.length, W = 420, H = 300, cxp = W / 2, cyp = H / 2, rad = Math.min(110, 30 + 20 * n);
    const pos = {};
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, "class": "cycle" });
    const defs = svg("defs", {}); const mk = svg("marker", { id: "arr", viewBox: "0 0 10 10", refX: 22, refY: 5, markerWidth: 6, markerHeight: 6, orient: "auto" });
    mk.appendChild(svg("path", { d: "M0 0L10 5L0 10z", fill: "#555" })); defs.appendChild(mk); s.appendChild(defs);
    nodes.forEach((id, i) => { const a = 2 * Math.PI * i / n - Math.PI / 2; pos[id] = [cxp + rad * Math.cos(a), cyp + rad * Math.sin(a)]; });
    for (const e of data.edges) {
      const p = pos[e.from], q = pos[e.to]; if (!p || !q) continue;
      // curve each edge to its right so a->b and b->a stay apart
      const dx = q[0] - p[0], dy = q[1] - p[1], len = Math.hypot(dx, dy) || 1;
      const mx = (p[0] + q[0]) / 2 + 30 * dy / len, my = (p[1] + q[1]) / 2 - 30 * dx / len;
      s.appendChild(svg("path", { d: "M" + p[0] + " " + p[1] + "Q" + mx + " " + my + " " + q[0] + " " + q[1], fill: "none", stroke: "#555", "marker-end": "url(#arr)", "class": "edge" }));
      const t = svg("text", { x: mx, y: my, "font-size": 11, fill: "#b71c1c", "text-anchor": "middle" }); t.textContent = String(e.type); s.appendChild(t);
    }
    for (const id of nodes) {
      s.appendChild(svg("circle", { cx: pos[id][0], cy: pos[id][1], r: 16, fill: "#e3f2fd", stroke: "#1565c0" }));
      const t = svg("text", { x: pos[id][0], y: pos[id][1] + 4, "text-anchor": "middle", "font-size": 11 }); t.textContent = "T" + id; s.appendChild(t);
    }
    const wrap = el("div"); wrap.appendChild(s);
    const tb = el("table"); row(tb, ["txn", "type", "value"], "th");
    for (const t of data.cycle) row(tb, ["T" + t.index, t.type === undefined ? "" : t.type, JSON.stringify(t.value === undefined ? t : t.value)]);
    wrap.appendChild(tb);
    return wrap;
  }

  function coreView(c) {
    const box = el("div", "cx-item");
    box.appendChild(el("h3", null, c.checker + ": " + c.ops.length + " operations that cannot be linearized together" + (c.key ? " (key " + c.key + ")" : "") + (c.minimal ? "" : " (shrinking ran out of time: not minimal)")));
    box.appendChild(el("p", "muted", "model " + c.model + ", initial state " + c.init + ". Shrunk from the whole history keeping a source for every value read: drop any one and the rest is linearizable or a read loses the write it saw. Outlined bars could not be placed after the longest linearizable prefix."));
    if (c.expected) box.appendChild(el("p", null, c.expected));
    const ops = c.ops;
    if (ops.length) {
      const procs = [...new Set(ops.map((o) => o.process))];
      const t0 = Math.min(...ops.map((o) => o.start)), t1 = Math.max(...ops.map((o) => o.end === null ? o.start : o.end));
      const W = 900, LH = 30, H = 20 + procs.length * LH, L = 70, span = (t1 - t0) || 1;
      const X = (t) => L + (W - L - 10) * (t - t0) / span;
      const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", height: H });
      procs.forEach((p, i) => { const t = svg("text", { x: 2, y: 20 + i * LH + 16, "font-size": 11 }); t.textContent = "process " + p; s.appendChild(t); });
      for (const o of ops) {
        const i = procs.indexOf(o.process), y = 20 + i * LH;
        const end = o.end === null ? t1 : o.end;
        const bad = c.unplaceable.indexOf(o.index) >= 0;
        s.appendChild(svg("rect", { x: X(o.start), y: y + 4, width: Math.max(3, X(end) - X(o.start)), height: LH - 10, fill: COLORS[OUT.indexOf(o.type)] || "#999", stroke: bad ? "#000" : "none", "stroke-width": 2, opacity: 0.8 }));
        const t = svg("text", { x: X(o.start) + 3, y: y + LH - 10, "font-size": 11 }); t.textContent = o.label; s.appendChild(t);
      }
      box.appendChild(s);
    }
    const tb = el("table"); row(tb, ["op", "process", "call", "outcome", "should have seen / note"], "th");
    for (const o of ops) row(tb, ["#" + o.index, o.process, o.label, o.type, o.expected === undefined ? "" : o.expected]);
    box.appendChild(tb);
    if (c.minimal_core && c.minimal_core.length) {
      box.appendChild(el("p", null, "1-minimal core (removing any one of these makes the rest linearizable):"));
      const ul = el("ul"); for (const t of c.minimal_core) ul.appendChild(el("li", null, t)); box.appendChild(ul);
    }
    const kvs = el("table", "kv");
    for (const k of ["longest_prefix", "final_states", "unplaceable"]) if (c[k] !== undefined) row(kvs, [k, typeof c[k] === "string" ? c[k] : JSON.stringify(c[k])]);
    box.appendChild(kvs);
    return box;
  }

  // ---- localization
  const loc = document.getElementById("loc");
  if (!D.localization.length) loc.appendChild(el("p", "muted", "no anomaly to localize"));
  for (const e of D.localization) {
    const box = el("div", "loc-item");
    box.appendChild(el("h3", null, e.checker + ": " + e.kind + (e.start_s === null ? "" : " at " + fmt(e.start_s) + "-" + fmt(e.end_s) + "s")));
    if (e.sentence) box.appendChild(el("p", "diagnosis", e.sentence));
    box.appendChild(el("p", null, e.explanation));
    const fl = e.faults.map((h) => h.kind + " #" + h.fault + " (" + h.relation + (h.relation === "precedes" ? ", ended " + fmt(h.gap_s) + "s before" : "") + ")");
    box.appendChild(el("p", null, "faults: " + (fl.length ? fl.join("; ") : "none active or just before")));
    box.appendChild(el("p", null, "nodes that served these ops: " + (e.nodes.length ? e.nodes.join(", ") : "unknown")));
    if (e.lines.length) {
      const pre = el("pre");
      pre.textContent = e.lines.map((l) => "[" + l[0] + " " + (l[1] === null ? "?" : fmt(l[1])) + "s] " + l[2] + " " + l[3]).join("\n");
      box.appendChild(pre);
    }
    loc.appendChild(box);
  }

  // ---- logs (searchable; a chunk at a time so a long log stays responsive)
  const logNames = Object.keys(D.logs);
  const sel = document.getElementById("log-node"), search = document.getElementById("log-search");
  const view = document.getElementById("log-view"), count = document.getElementById("log-count");
  const optAll = el("option", null, "all nodes"); optAll.value = ""; sel.appendChild(optAll);
  for (const n of logNames) { const o = el("option", null, n); o.value = n; sel.appendChild(o); }
  const allLines = [];
  for (const n of logNames) for (const l of D.logs[n]) allLines.push([n, l[0], l[1], l[2]]);
  allLines.sort((a, b) => (a[1] === null ? -Infinity : a[1]) - (b[1] === null ? -Infinity : b[1]));
  function renderLogs() {
    const q = search.value.toLowerCase(), node = sel.value;
    view.textContent = "";
    let shown = 0, matched = 0;
    const frag = document.createDocumentFragment();
    for (const l of allLines) {
      if (node && l[0] !== node) continue;
      if (q && (l[3] + " " + l[2]).toLowerCase().indexOf(q) < 0) continue;
      matched++;
      if (shown >= 5000) continue;
      shown++;
      const d = el("div", "ln lvl-" + String(l[2]).replace(/[^A-Za-z]/g, ""), (l[1] === null ? "      ?" : fmt(l[1]).padStart(9)) + "s " + l[0] + " " + l[2] + " " + l[3]);
      frag.appendChild(d);
    }
    if (!allLines.length) frag.appendChild(el("div", "muted", "no node logs in this run"));
    view.appendChild(frag);
    count.textContent = " " + matched + " lines" + (matched > shown ? " (first " + shown + " shown)" : "");
  }
  search.addEventListener("input", renderLogs); sel.addEventListener("change", renderLogs);
  renderLogs();
  document.body.dataset.ready = "1";
})();
