"use strict";
// Space-time diagram (data-section="messages") and node-state bands (data-section="node-states").
// Messages arrive as columns sorted by send time (see reports/diagram.py); only the slice in
// view is drawn, on canvas, so 100k messages zoom as fast as 100. Run strings reach the page
// only through canvas text and textContent.
(function () {
  const D = JSON.parse(document.getElementById("run-data").textContent);
  const M = D.diagram, S = D.states || { nodes: [], roles: [], runs: {}, outages: [], polled: false };
  let END_US = Math.max(1, Math.round(D.end_s * 1e6));  // widened below to the last message
  const ROLE_FILL = { leader: "#ffe082", follower: "#bbdefb", candidate: "#ffccbc", member: "#c8e6c9", left: "#eeeeee", down: "#9e9e9e" };
  const FAULT_FILL = "rgba(120,80,200,0.13)";
  const COLORS = ["#43a047", "#e53935", "#fbc02d"];
  const fmt = (x, d) => (typeof x === "number" ? x.toFixed(d === undefined ? 3 : d) : "");
  const faultStop = (f) => (f.stop === null || f.stop === undefined ? D.end_s : f.stop);
  function niceStep(x) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(x, 1e-6))));
    for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
    return 10 * p;
  }
  const stepDigits = (step) => Math.max(0, Math.min(6, -Math.floor(Math.log10(step) + 1e-9)));

  // ---- decode the message columns
  const nodes = (M && M.nodes.length ? M.nodes : S.nodes).slice();
  for (const n of S.nodes) if (nodes.indexOf(n) < 0) nodes.push(n);
  const n = M ? M.count : 0;
  const t0 = new Float64Array(n), lat = new Int32Array(n);
  let maxLat = 0, acc = 0;
  for (let i = 0; i < n; i++) {
    acc += M.dt[i]; t0[i] = acc; lat[i] = M.lat[i];
    if (lat[i] > maxLat) maxLat = lat[i];
  }
  if (n) END_US = Math.max(END_US, Math.round(t0[n - 1] + Math.max(0, maxLat)));
  const nodeIdx = (name) => nodes.indexOf(name);
  const src = M ? M.src.map((i) => nodeIdx(M.nodes[i])) : [];
  const dst = M ? M.dst.map((i) => nodeIdx(M.nodes[i])) : [];

  // ---- client lanes: the counterexample's ops (else the first anomaly's)
  const cops = [];
  const cx = (D.counterexamples || [])[0];
  const callByIndex = {};
  for (const c of D.calls) callByIndex[c[0]] = c;
  const shown = {};
  if (cx && cx.ops) {
    for (const o of cx.ops) {
      const c = callByIndex[o.index];
      shown[o.index] = 1;
      cops.push({ process: String(o.process), start: Math.round(o.start * 1e6), end: o.end === null ? -1 : Math.round(o.end * 1e6),
        label: o.label, type: o.type, node: c ? c[10] : "", bad: (cx.unplaceable || []).indexOf(o.index) >= 0 });
    }
  }
  if (D.localization.length) {
    for (const i of D.localization[0].invokes || []) {
      const c = callByIndex[i];
      if (c && !shown[i]) cops.push({ process: String(c[1]), start: c[3], end: c[4], label: c[6] + " " + c[8] + (c[5] === 0 ? " -> " + c[9] : ""),
        type: ["ok", "fail", "info"][c[5]], node: c[10], bad: false });
    }
  }
  const procs = [...new Set(cops.map((o) => o.process))];

  // ---- lanes
  const LANE_H = 34, TOP = 18, GUT = 58;
  const lanes = nodes.map((nm) => ({ kind: "node", name: nm })).concat(procs.map((p) => ({ kind: "client", name: "client p" + p, proc: p })));
  const laneY = (i) => TOP + i * LANE_H + LANE_H / 2;
  const procLane = (p) => nodes.length + procs.indexOf(p);

  const canvas = document.getElementById("sd-canvas");
  const ctx = canvas.getContext("2d");
  const note = document.getElementById("msg-note");
  const countEl = document.getElementById("sd-count");
  const notes = [];
  const msgSummary = D.messages || {};
  if (msgSummary.not_captured) notes.push("Messages were not captured: " + msgSummary.not_captured + ". Node states and faults are still drawn.");
  else if (!M) notes.push("Messages were not captured for this run (no messages.jsonl).");
  if (M && M.note) notes.push(M.note);
  if (!S.polled) notes.push("No node states were polled (the system has no status call): bands show only kill/pause faults.");
  note.textContent = notes.join(" ");

  const win = D.window || [0, D.end_s];
  let v0 = Math.round(win[0] * 1e6), v1 = Math.max(v0 + 1000, Math.round(win[1] * 1e6));
  const fromEl = document.getElementById("sd-from"), toEl = document.getElementById("sd-to");

  function lowerBound(t) {
    let lo = 0, hi = n;
    while (lo < hi) { const m = (lo + hi) >> 1; if (t0[m] < t) lo = m + 1; else hi = m; }
    return lo;
  }
  function roleName(k) { return k < 0 ? "?" : S.roles[k]; }

  function drawStates(c, X, y0, h, nodeName, x0, x1) {
    const runs = S.runs[nodeName] || [];
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i], a = X(r[0]), b = X(i + 1 < runs.length ? runs[i + 1][0] : END_US);
      if (b < x0 || a > x1) continue;
      const role = r[1] ? roleName(r[2]) : "down";
      c.fillStyle = ROLE_FILL[role] || "#e0e0e0";
      c.fillRect(Math.max(a, x0), y0, Math.min(b, x1) - Math.max(a, x0), h);
      if (b - a > 46) {
        c.fillStyle = "#444"; c.font = "9px sans-serif";
        c.fillText(role + (r[3] >= 0 ? " " + r[3] : ""), Math.max(a, x0) + 2, y0 + 9);
      }
    }
    for (const o of S.outages) {
      if (S.nodes[o[0]] !== nodeName) continue;
      const a = X(o[2] * 1e6), b = X(o[3] * 1e6);
      if (b < x0 || a > x1) continue;
      c.fillStyle = "rgba(97,97,97,0.55)";
      c.fillRect(Math.max(a, x0), y0 + h - 6, Math.min(b, x1) - Math.max(a, x0), 6);
      c.fillStyle = "#212121"; c.font = "9px sans-serif";
      c.fillText(o[1], Math.max(a, x0) + 2, y0 + h - 8);
    }
  }

  let visible = [];  // indices drawn, for hover
  function draw() {
    const w = canvas.clientWidth || 900;
    const h = TOP + lanes.length * LANE_H + 16;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); canvas.style.height = h + "px";
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const sx = (w - GUT) / (v1 - v0), X = (t) => GUT + (t - v0) * sx;
    // node lanes: state bands
    lanes.forEach((ln, i) => {
      const y = TOP + i * LANE_H;
      if (ln.kind === "node") drawStates(ctx, X, y + 4, LANE_H - 8, ln.name, GUT, w);
      ctx.fillStyle = "#cfd8dc"; ctx.fillRect(GUT, y + LANE_H / 2, w - GUT, 1);
    });
    // fault bands
    D.faults.forEach((f, k) => {
      const a = X(f.start * 1e6), b = X(faultStop(f) * 1e6);
      if (b < GUT || a > w) return;
      ctx.fillStyle = FAULT_FILL; ctx.fillRect(Math.max(a, GUT), TOP, Math.max(2, Math.min(b, w) - Math.max(a, GUT)), h - TOP - 14);
      ctx.fillStyle = "#5e35b1"; ctx.font = "10px sans-serif"; ctx.fillText(f.kind + " #" + k, Math.max(a, GUT) + 2, h - 4);
    });
    // time axis
    ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
    const step = niceStep((v1 - v0) / 1e6 / 8);
    for (let t = Math.ceil(v0 / 1e6 / step) * step; t * 1e6 <= v1; t += step) {
      const x = X(t * 1e6); ctx.fillRect(x, 0, 1, 5); ctx.fillText(fmt(t, stepDigits(step)) + "s", x + 2, 11);
    }
    // messages in view (and those sent just before it that land in it)
    let lo = lowerBound(v0 - maxLat), hi = lowerBound(v1 + 1);
    visible = [];
    let drawn = 0, dropped = 0;
    ctx.lineWidth = 1;
    ctx.strokeStyle = "rgba(55,71,79,0.75)"; ctx.fillStyle = "rgba(55,71,79,0.9)";
    ctx.beginPath();
    const heads = [];
    for (let i = lo; i < hi; i++) {
      if (lat[i] < 0) continue;
      const e = t0[i] + lat[i];
      if (e < v0) continue;
      const xa = X(t0[i]), xb = X(e), ya = laneY(src[i]), yb = laneY(dst[i]);
      ctx.moveTo(xa, ya); ctx.lineTo(xb, yb);
      heads.push(xa, ya, xb, yb);
      visible.push(i); drawn++;
    }
    ctx.stroke();
    if (drawn <= 5000) {  // arrowheads while they can be told apart
      ctx.beginPath();
      for (let k = 0; k < heads.length; k += 4) {
        const xa = heads[k], ya = heads[k + 1], xb = heads[k + 2], yb = heads[k + 3];
        const ang = Math.atan2(yb - ya, xb - xa);
        ctx.moveTo(xb, yb); ctx.lineTo(xb - 6 * Math.cos(ang - 0.4), yb - 6 * Math.sin(ang - 0.4));
        ctx.lineTo(xb - 6 * Math.cos(ang + 0.4), yb - 6 * Math.sin(ang + 0.4)); ctx.closePath();
      }
      ctx.fill();
    }
    // dropped: a red dashed stub 40% of the way toward the receiver, ending in a cross
    ctx.strokeStyle = "#d32f2f"; ctx.setLineDash([3, 2]); ctx.beginPath();
    const crosses = [];
    for (let i = lo; i < hi; i++) {
      if (lat[i] >= 0 || t0[i] < v0) continue;
      const xa = X(t0[i]), ya = laneY(src[i]), yb = laneY(dst[i]);
      const xe = xa + 10, ye = ya + (yb - ya) * 0.4;
      ctx.moveTo(xa, ya); ctx.lineTo(xe, ye); crosses.push(xe, ye);
      visible.push(i); dropped++;
    }
    ctx.stroke(); ctx.setLineDash([]); ctx.beginPath();
    for (let k = 0; k < crosses.length; k += 2) {
      const x = crosses[k], y = crosses[k + 1];
      ctx.moveTo(x - 3, y - 3); ctx.lineTo(x + 3, y + 3); ctx.moveTo(x + 3, y - 3); ctx.lineTo(x - 3, y + 3);
    }
    ctx.lineWidth = 1.5; ctx.stroke(); ctx.lineWidth = 1;
    // client lanes: the counterexample's ops, and dotted lines to the node that served each
    for (const o of cops) {
      const li = procLane(o.process), y = TOP + li * LANE_H;
      const end = o.end < 0 ? END_US : o.end;
      const a = X(o.start), b = X(end);
      if (b < GUT || a > w) continue;
      ctx.fillStyle = COLORS[["ok", "fail", "info"].indexOf(o.type)] || "#999";
      ctx.globalAlpha = 0.8; ctx.fillRect(Math.max(a, GUT), y + 6, Math.max(3, b - Math.max(a, GUT)), LANE_H - 12); ctx.globalAlpha = 1;
      if (o.bad) { ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.strokeRect(Math.max(a, GUT), y + 6, Math.max(3, b - Math.max(a, GUT)), LANE_H - 12); ctx.lineWidth = 1; }
      ctx.fillStyle = "#111"; ctx.font = "10px sans-serif"; ctx.fillText(o.label, Math.max(a, GUT) + 2, y + LANE_H / 2 + 3);
      const ni = nodeIdx(o.node);
      if (ni >= 0) {
        ctx.strokeStyle = "rgba(0,0,0,0.45)"; ctx.setLineDash([2, 3]); ctx.beginPath();
        ctx.moveTo(a, y + 6); ctx.lineTo(a, laneY(ni));
        if (o.end >= 0) { ctx.moveTo(b, laneY(ni)); ctx.lineTo(b, y + 6); }
        ctx.stroke(); ctx.setLineDash([]);
      }
    }
    // lane labels
    ctx.font = "11px sans-serif";
    lanes.forEach((ln, i) => {
      const y = TOP + i * LANE_H;
      ctx.fillStyle = "#fff"; ctx.fillRect(0, y, GUT - 2, LANE_H);
      ctx.fillStyle = ln.kind === "node" ? "#263238" : "#1565c0"; ctx.fillText(ln.name, 3, y + LANE_H / 2 + 4);
    });
    canvas.dataset.v0 = String(v0); canvas.dataset.v1 = String(v1);
    canvas.dataset.drawn = String(drawn); canvas.dataset.dropped = String(dropped);
    canvas.dataset.lanes = String(lanes.length); canvas.dataset.clientOps = String(cops.length);
    fromEl.value = (v0 / 1e6).toFixed(3); toEl.value = (v1 / 1e6).toFixed(3);
    countEl.textContent = " " + drawn + " delivered, " + dropped + " dropped in view of " + n;
  }

  let pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; draw(); }); } }
  function setWindow(a, b) {
    a = Math.max(0, Math.min(a, END_US)); b = Math.max(a + 50, Math.min(b, END_US + 1));
    v0 = a; v1 = b; draw();
  }
  function zoom(factor, frac) {
    frac = frac === undefined ? 0.5 : frac;
    const span = v1 - v0, c = v0 + span * frac, ns = Math.min(END_US, Math.max(50, span * factor));
    setWindow(c - ns * frac, c - ns * frac + ns);
  }
  document.getElementById("sd-in").addEventListener("click", () => zoom(0.5));
  document.getElementById("sd-out").addEventListener("click", () => zoom(2));
  document.getElementById("sd-all").addEventListener("click", () => setWindow(0, END_US));
  document.getElementById("sd-anomaly").addEventListener("click", () => setWindow(Math.round(win[0] * 1e6), Math.round(win[1] * 1e6)));
  document.getElementById("sd-go").addEventListener("click", () => {
    const a = Number(fromEl.value), b = Number(toEl.value);
    if (isFinite(a) && isFinite(b) && b > a) setWindow(Math.round(a * 1e6), Math.round(b * 1e6));
  });
  canvas.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = canvas.getBoundingClientRect();
    zoom(ev.deltaY > 0 ? 1.25 : 0.8, Math.max(0, (ev.clientX - r.left - GUT) / (r.width - GUT)));
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v0: v0, v1: v1 }; });
  window.addEventListener("mouseup", () => { drag = null; });
  const tip = document.getElementById("sd-tip");
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const per = (v1 - v0) / (r.width - GUT);
    if (drag) {
      const d = (drag.x - ev.clientX) * (drag.v1 - drag.v0) / (r.width - GUT);
      v0 = drag.v0 + d; v1 = drag.v1 + d; schedule(); return;
    }
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    const X = (t) => GUT + (t - v0) / per;
    let best = -1, bestD = 36;
    for (let k = 0; k < visible.length && k < 50000; k++) {
      const i = visible[k];
      const xa = X(t0[i]), ya = laneY(src[i]);
      const xb = lat[i] < 0 ? xa + 10 : X(t0[i] + lat[i]), yb = lat[i] < 0 ? ya + (laneY(dst[i]) - ya) * 0.4 : laneY(dst[i]);
      const dx = xb - xa, dy = yb - ya, L = dx * dx + dy * dy || 1;
      const u = Math.max(0, Math.min(1, ((px - xa) * dx + (py - ya) * dy) / L));
      const ex = xa + u * dx - px, ey = ya + u * dy - py, d2 = ex * ex + ey * ey;
      if (d2 < bestD) { bestD = d2; best = i; }
    }
    if (best < 0) { tip.hidden = true; return; }
    const ik = M.idk[best];
    tip.textContent = M.types[M.type[best]] + (ik >= 0 ? " " + M.id_names[ik] + "=" + M.idv[best] : "") + "  " + nodes[src[best]] + " -> " + nodes[dst[best]] +
      "\nsent " + fmt(t0[best] / 1e6, 4) + "s  " + (lat[best] < 0 ? "DROPPED" : "delivered +" + fmt(lat[best] / 1000, 2) + " ms") +
      (M.fault[best] >= 0 ? "  (" + M.faults[M.fault[best]] + ")" : "");
    tip.hidden = false; tip.style.left = (ev.clientX + 12) + "px"; tip.style.top = (ev.clientY + 12) + "px";
  });
  window.addEventListener("resize", schedule);
  const t = performance.now();
  draw();
  canvas.dataset.renderMs = String(Math.round(performance.now() - t));

  // ---- node-state bands over the whole run; a click opens the diagram there
  const ns = document.getElementById("ns-canvas"), nctx = ns.getContext("2d");
  const nsNote = document.getElementById("ns-note");
  const BAND = 20;
  const snodes = S.nodes.length ? S.nodes : nodes;
  nsNote.textContent = S.polled ? "Each node's own status, polled (role and term); grey: not answering (down or paused); kill/pause faults marked at the band's foot. Click to open the message diagram there."
    : "No status polled for this system: only kill/pause faults are shown.";
  function drawBands() {
    const w = ns.clientWidth || 900, h = TOP + snodes.length * (BAND + 4) + 4, dpr = window.devicePixelRatio || 1;
    if (ns.width !== Math.round(w * dpr) || ns.height !== Math.round(h * dpr)) {
      ns.width = Math.round(w * dpr); ns.height = Math.round(h * dpr); ns.style.height = h + "px";
    }
    nctx.setTransform(dpr, 0, 0, dpr, 0, 0); nctx.clearRect(0, 0, w, h);
    const X = (t) => GUT + t * (w - GUT) / END_US;
    D.faults.forEach((f) => { nctx.fillStyle = FAULT_FILL; nctx.fillRect(X(f.start * 1e6), TOP, Math.max(2, X(faultStop(f) * 1e6) - X(f.start * 1e6)), h - TOP); });
    snodes.forEach((nm, i) => {
      const y = TOP + i * (BAND + 4);
      drawStates(nctx, X, y, BAND, nm, GUT, w);
      nctx.fillStyle = "#263238"; nctx.font = "11px sans-serif"; nctx.fillText(nm, 3, y + 14);
    });
    if (D.window) { nctx.strokeStyle = "#c62828"; nctx.lineWidth = 2; nctx.strokeRect(X(D.window[0] * 1e6), TOP - 2, X(D.window[1] * 1e6) - X(D.window[0] * 1e6), h - TOP); nctx.lineWidth = 1; }
    nctx.fillStyle = "#555"; nctx.font = "10px sans-serif";
    const st = niceStep(D.end_s / 10);
    for (let t = 0; t <= D.end_s; t += st) { nctx.fillRect(X(t * 1e6), 0, 1, 5); nctx.fillText(fmt(t, stepDigits(st)) + "s", X(t * 1e6) + 2, 11); }
    ns.dataset.bands = String(snodes.length);
  }
  ns.addEventListener("click", (ev) => {
    const r = ns.getBoundingClientRect();
    const t = (ev.clientX - r.left - GUT) / (r.width - GUT) * END_US, span = v1 - v0;
    setWindow(t - span / 2, t + span / 2);
    document.getElementById("messages").scrollIntoView();
  });
  window.addEventListener("resize", drawBands);
  drawBands();
  document.body.dataset.diagram = "1";
})();
