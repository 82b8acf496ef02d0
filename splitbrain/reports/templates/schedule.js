"use strict";
// The nemesis schedule: every planned fault window as a bar on its fault's lane (outline),
// with where it was really applied (filled), and a table of parameters and resolved targets.
(function () {
  const D = JSON.parse(document.getElementById("run-data").textContent);
  const S = D.schedule;
  const origin = document.getElementById("sched-origin");
  const tbody = document.querySelector("#sched-table tbody");
  const put = (tag, text) => { const e = document.createElement(tag); e.textContent = String(text === null || text === undefined ? "" : text); return e; };
  if (!S) { origin.textContent = "no schedule.json in this run"; return; }
  if (S.error) { origin.textContent = "schedule.json unreadable: " + S.error; return; }
  const o = S.origin || {};
  let text = S.windows.length ? S.windows.length + " fault windows" : "no faults: this run was under --nemesis none";
  if (o.from) text += ", replayed from " + o.from;
  else if (o.generator) text += ", generator " + o.generator + (o.interval_s ? " (interval " + o.interval_s + " s)" : "");
  if (S.shrunk) text += ". " + S.shrunk;
  origin.textContent = text;
  if (!S.windows.length) return;
  const lanes = [];
  for (const w of S.windows) if (!lanes.includes(w.fault)) lanes.push(w.fault);
  const end = Math.max(D.end_s || 0, ...S.windows.map((w) => (w.stop === null ? w.start : w.stop)), 1e-3);
  const W = 1000, L = 150, R = 10, LH = 22, H = lanes.length * LH + 25;
  const X = (t) => L + (W - L - R) * t / end;
  const NS = "http://www.w3.org/2000/svg";
  const mk = (tag, attrs) => { const e = document.createElementNS(NS, tag); for (const k in attrs) e.setAttribute(k, String(attrs[k])); return e; };
  const s = mk("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none" });
  lanes.forEach((name, i) => { const t = mk("text", { x: 4, y: i * LH + 15, "font-size": 11 }); t.textContent = name; s.appendChild(t); });
  for (const w of S.windows) {
    const y = lanes.indexOf(w.fault) * LH + 3, stop = w.stop === null ? end : w.stop;
    const bar = mk("rect", { x: X(w.start), y: y, width: Math.max(1, X(stop) - X(w.start)), height: LH - 8, fill: "none", stroke: "#7850c8" });
    const tip = mk("title", {}); tip.textContent = "#" + w.window + " " + w.fault + " " + w.start + "-" + stop + " s " + w.params; bar.appendChild(tip);
    s.appendChild(bar);
    if (typeof w.at === "number") s.appendChild(mk("rect", { x: X(w.at), y: y + 3, width: Math.max(1, X(stop) - X(w.at)), height: LH - 14, fill: "rgba(120,80,200,0.45)" }));
  }
  for (let t = 0; t <= end; t += Math.max(1, Math.round(end / 10))) { const tx = mk("text", { x: X(t), y: H - 4, "text-anchor": "middle", "font-size": 11 }); tx.textContent = t + "s"; s.appendChild(tx); }
  document.getElementById("sched-plot").appendChild(s);
  for (const w of S.windows) {
    const tr = document.createElement("tr");
    for (const c of ["#" + w.window, w.fault, w.start + " - " + (w.stop === null ? "end" : w.stop), w.at === null ? "not applied" : w.at, w.params, w.resolved]) tr.appendChild(put("td", c));
    tbody.appendChild(tr);
  }
})();
// Per-key summary (independent keys): how many keys, ops per key, which failed.
(function () {
  const D = JSON.parse(document.getElementById("run-data").textContent);
  const box = document.getElementById("keys-summary");
  const K = D.keys;
  if (!box) return;
  if (!K || K.count === 0) { box.textContent = "no keyed ops"; return; }
  let text = K.count + (K.count === 1 ? " key" : " keys") + ", ops per key min " + K.ops_min + " / median " + K.ops_median + " / max " + K.ops_max;
  text += K.failed.length ? "; FAILED on " + K.failed.join(", ") + " (counterexample below; pick the key above the timeline to see only its ops)" : "; no key failed";
  box.textContent = text;
})();
