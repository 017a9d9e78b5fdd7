// The chainrule playground page: a thin view.  Every number here comes from the server,
// where chainrule trains the network; this file only asks for steps and draws the answers.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const POS = [8, 119, 189], NEG = [245, 147, 34], MID = [255, 255, 255];
const CLASS_RGB = [[245, 147, 34], [8, 119, 189], [60, 154, 95], [142, 68, 173], [200, 60, 60],
                   [90, 90, 90], [23, 190, 207], [188, 189, 34], [227, 119, 194], [140, 86, 75]];

const ICON_PLAY = '<svg viewBox="0 0 24 24" width="26" height="26"><path d="M8 5l12 7-12 7z" fill="currentColor"/></svg>';
const ICON_PAUSE = '<svg viewBox="0 0 24 24" width="26" height="26"><rect x="6" y="5" width="4" height="14" fill="currentColor"/><rect x="14" y="5" width="4" height="14" fill="currentColor"/></svg>';

const ui = {
  options: null, run: null, desc: null, state: null, playing: false, busy: false,
  inFlight: 0, looping: false, hidden: [4], csv: null, csvName: "data.csv", selected: null, detailAt: 0,
  detailBusy: false, frames: [], configTimer: null,
};
window.__playground = ui;  // for the end-to-end test and the curious

// -- talking to the server ----------------------------------------------------------------
async function api(path, body, method) {
  const opts = { method: method || (body === undefined ? "GET" : "POST"),
                 headers: { "Content-Type": "application/json" } };
  if (body !== undefined) opts.body = JSON.stringify(body);
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function toast(message) {
  const t = $("toast");
  t.textContent = message;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 6000);
}

// -- the configuration from the controls --------------------------------------------------
function fillSelect(id, items, value) {
  const sel = $(id);
  sel.innerHTML = "";
  for (const it of items) {
    const o = document.createElement("option");
    o.value = it.name; o.textContent = it.label;
    sel.appendChild(o);
  }
  sel.value = value;
}

function datasetInfo(name) { return ui.options.datasets.find((d) => d.name === name); }

function readConfig() {
  const num = (id) => Number($(id).value);
  const cfg = {
    dataset: $("dataset").value, noise: num("noise"), val_split: num("val-split") / 100,
    standardize: $("standardize").checked, hidden: ui.hidden.slice(),
    activation: $("activation").value, output: $("output").value, init: $("init").value,
    optimizer: $("optimizer").value, lr: num("lr"), batch_size: num("batch-size"),
    seed: num("seed"),
  };
  if (cfg.dataset === "csv") { cfg.csv = ui.csv; cfg.csv_name = ui.csvName; }
  else cfg.n_samples = num("n-samples");
  return cfg;
}

async function newRun() {
  pause();
  const body = { config: readConfig() };
  if (ui.run) body.replace = ui.run;
  try {
    const r = await api("/api/runs", body);
    ui.run = r.id; ui.desc = r; ui.selected = null;
    $("weight-detail").hidden = true;
    $("export-box").hidden = true;
    $("d-example").max = r.m_train - 1;
    $("data-note").textContent = `${r.points.length} examples: ${r.m_train} for training, ` +
      `${r.m_val} for validation; ${r.class_names.length} classes`;
    drawNetworkFrame();
    applyState(r.state);
  } catch (err) { toast(err.message); }
}

function configChanged() {
  clearTimeout(ui.configTimer);
  ui.configTimer = setTimeout(newRun, 120);
}

// -- training ------------------------------------------------------------------------------
function setPlaying(on) {
  ui.playing = on;
  const b = $("train");
  b.classList.toggle("playing", on);
  b.innerHTML = on ? ICON_PAUSE : ICON_PLAY;
  b.title = on ? "pause" : "train";
}
function pause() { setPlaying(false); }

function requestStep(n) {
  const run = ui.run;
  ui.inFlight++;
  ui.busy = true;
  return api(`/api/runs/${run}/step`, { steps: n })
    .then((st) => ({ st, run }), (err) => ({ err, run }))
    .finally(() => { ui.inFlight--; ui.busy = ui.inFlight > 0; });
}

function accept(reply) {
  if (reply.run !== ui.run) return;  // an answer for a run this tab has since replaced
  if (reply.err) { pause(); toast(reply.err.message); return; }
  applyState(reply.st);
  if (reply.st.diverged) { pause(); toast(reply.st.diverged); }
}

async function step(n) {
  if (!ui.run || ui.busy) return;
  accept(await requestStep(n));
}

async function playLoop() {
  if (ui.looping) return;
  ui.looping = true;
  try {
    // One request ahead: the server trains the next steps while this frame is drawn.
    let pending = requestStep(Number($("speed").value));
    while (ui.playing) {
      const reply = await pending;
      pending = ui.playing ? requestStep(Number($("speed").value)) : null;
      accept(reply);
      await new Promise((r) => requestAnimationFrame(r));
    }
    if (pending) accept(await pending);
  } finally { ui.looping = false; }
}

// -- drawing the state ---------------------------------------------------------------------
function fmt(x, digits) {
  if (x === null || x === undefined) return "–";
  return Number(x).toFixed(digits === undefined ? 4 : digits);
}

function applyState(st) {
  ui.state = st;
  $("step").textContent = String(st.step);
  $("epoch").textContent = String(st.epoch);
  $("loss").textContent = st.loss === null ? "NaN" : fmt(st.loss);
  $("val-loss").textContent = fmt(st.val_loss);
  const acc = (a) => (a === null ? "–" : (100 * a).toFixed(1) + "%");
  $("acc").textContent = acc(st.accuracy) + " / " + acc(st.val_accuracy);
  drawBoundary(st);
  drawWeights(st);
  drawUnits(st);
  drawCurves(st.history);
  drawFindings(st);
  countFrame();
  if (ui.selected && !$("weight-detail").hidden) refreshDetail(false);
}

function countFrame() {
  const now = performance.now();
  ui.frames.push(now);
  while (ui.frames.length && now - ui.frames[0] > 2000) ui.frames.shift();
  if (ui.playing && ui.frames.length > 2) {
    const rate = (ui.frames.length - 1) / ((now - ui.frames[0]) / 1000);
    $("fps").textContent = `${rate.toFixed(0)} redraws/s`;
  }
}

function bytes(b64) {
  const s = atob(b64), out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function diverging(v) {  // v in [0, 1]: orange, white, blue
  const t = Math.abs(v - 0.5) * 2, c = v < 0.5 ? NEG : POS;
  return [0, 1, 2].map((i) => Math.round(MID[i] + (c[i] - MID[i]) * t));
}

function drawBoundary(st) {
  const b = st.boundary, n = b.grid, cv = $("boundary");
  cv.width = n; cv.height = n;
  const ctx = cv.getContext("2d"), img = ctx.createImageData(n, n);
  if (b.p) {
    const p = bytes(b.p);
    for (let i = 0; i < n * n; i++) {
      const c = diverging(0.5 + (p[i] / 255 - 0.5) * 0.85);
      img.data.set([c[0], c[1], c[2], 255], 4 * i);
    }
  } else {
    const cls = bytes(b.cls), conf = bytes(b.conf);
    for (let i = 0; i < n * n; i++) {
      const c = CLASS_RGB[cls[i] % CLASS_RGB.length], k = 0.25 + 0.55 * (conf[i] / 255);
      img.data.set([0, 1, 2].map((j) => Math.round(255 + (c[j] - 255) * k)).concat(255), 4 * i);
    }
  }
  ctx.putImageData(img, 0, 0);
  drawPoints();
}

function toCanvas(x, y, W, H) {
  const [x0, x1, y0, y1] = ui.desc.extent;
  return [(x - x0) / (x1 - x0) * W, (y1 - y) / (y1 - y0) * H];
}

function drawPoints() {
  const cv = $("points"), ctx = cv.getContext("2d"), W = cv.width, H = cv.height;
  ctx.clearRect(0, 0, W, H);
  const r = ui.desc.points.length > 800 ? 5 : 7;
  const binary = ui.desc.class_names.length === 2;
  const sel = ui.selected && ui.selected.example !== null ? ui.selected.example : null;
  ui.desc.points.forEach((p, idx) => {
    const [px, py] = toCanvas(p[0], p[1], W, H);
    const c = binary ? (p[2] ? POS : NEG) : CLASS_RGB[p[2] % CLASS_RGB.length];
    ctx.beginPath(); ctx.arc(px, py, r, 0, 2 * Math.PI);
    if (p[3] === 0) {
      ctx.fillStyle = `rgb(${c})`; ctx.fill();
      ctx.lineWidth = 1.5; ctx.strokeStyle = "#fff"; ctx.stroke();
    } else {
      ctx.lineWidth = 3; ctx.strokeStyle = "#1b1b1b"; ctx.stroke();
      ctx.beginPath(); ctx.arc(px, py, r - 2, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${c})`; ctx.fill();
    }
    if (sel !== null && ui.desc.train_index[idx] === sel) {
      ctx.beginPath(); ctx.arc(px, py, r + 6, 0, 2 * Math.PI);
      ctx.lineWidth = 3; ctx.strokeStyle = "#111"; ctx.stroke();
    }
  });
}

// -- the network ----------------------------------------------------------------------------
const NODE = 38;

function layout() {
  const svg = $("network"), W = svg.clientWidth || 600, H = svg.clientHeight || 380;
  const sizes = ui.desc.sizes, L = sizes.length;
  const xs = sizes.map((_, l) => 40 + (W - 80 - NODE) * (L === 1 ? 0 : l / (L - 1)));
  const gap = Math.min(56, (H - 40) / Math.max(...sizes));
  const ys = sizes.map((n) => Array.from({ length: n }, (_, j) => H / 2 + (j - (n - 1) / 2) * gap - NODE / 2 + 8));
  return { W, H, xs, ys, sizes };
}

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG_NS, name);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

function drawNetworkFrame() {
  const svg = $("network");
  svg.innerHTML = "";
  const g = layout();
  svg.setAttribute("viewBox", `0 0 ${g.W} ${g.H}`);
  const wires = el("g", {}, svg), nodes = el("g", {}, svg);
  ui.net = { g, lines: [], images: [] };
  const L = g.sizes.length - 1;
  for (let l = 1; l <= L; l++) {
    const rows = [];
    for (let j = 0; j < g.sizes[l]; j++) {
      const row = [];
      for (let k = 0; k < g.sizes[l - 1]; k++) {
        const x1 = g.xs[l - 1] + NODE, y1 = g.ys[l - 1][k] + NODE / 2;
        const x2 = g.xs[l], y2 = g.ys[l][j] + NODE / 2;
        const w = el("g", { class: "weight", "data-testid": "weight", "data-layer": l,
                            "data-row": j, "data-col": k }, wires);
        el("line", { class: "hit", x1, y1, x2, y2 }, w);
        const vis = el("line", { class: "vis", x1, y1, x2, y2 }, w);
        const title = el("title", {}, w);
        w.addEventListener("click", () => select({ kind: "weight", layer: l, row: j, col: k }));
        row.push({ group: w, vis, title });
      }
      rows.push(row);
    }
    ui.net.lines.push(rows);
  }
  const names = ui.desc.feature_names;
  for (let l = 0; l <= L; l++) {
    const imgs = [];
    const label = l === 0 ? "input" : l === L ? "output" : `layer ${l}`;
    el("text", { x: g.xs[l] + NODE / 2, y: 14, "text-anchor": "middle", class: "layer" }, svg)
      .textContent = label;
    for (let j = 0; j < g.sizes[l]; j++) {
      const x = g.xs[l], y = g.ys[l][j];
      const u = el("g", { class: "unit", "data-testid": "unit", "data-layer": l, "data-unit": j }, nodes);
      el("rect", { x, y, width: NODE, height: NODE, fill: "#fff" }, u);
      imgs.push(el("image", { x, y, width: NODE, height: NODE, preserveAspectRatio: "none" }, u));
      el("rect", { class: "frame", x, y, width: NODE, height: NODE, rx: 3 }, u);
      const tag = l === 0 ? (names[j] || `x${j + 1}`) : String(j);
      el("text", { x: l === 0 ? x - 5 : x + NODE / 2, y: l === 0 ? y + NODE / 2 + 4 : y + NODE + 12,
                   "text-anchor": l === 0 ? "end" : "middle" }, u).textContent = tag;
      el("title", {}, u).textContent = l === 0 ? `input ${tag}` : `unit ${j} of ${label}`;
      u.addEventListener("click", () => select({ kind: "unit", layer: l, unit: j }));
    }
    ui.net.images.push(imgs);
  }
  drawUnitControls(g);
  markSelected();
}

function drawUnitControls(g) {
  const box = $("units-ctl");
  box.innerHTML = "";
  const scale = box.clientWidth / g.W;
  ui.hidden.forEach((n, i) => {
    const d = document.createElement("div");
    d.className = "u";
    d.style.left = `${(g.xs[i + 1] + NODE / 2) * scale}px`;
    d.innerHTML = `<button class="tiny" aria-label="fewer units">&minus;</button><span>${n}</span>` +
                  `<button class="tiny" aria-label="more units">+</button>`;
    const [minus, plus] = d.querySelectorAll("button");
    minus.onclick = () => { if (ui.hidden[i] > 1) { ui.hidden[i]--; configChanged(); } };
    plus.onclick = () => {
      if (ui.hidden[i] < ui.options.limits.max_units) { ui.hidden[i]++; configChanged(); }
    };
    box.appendChild(d);
  });
  $("n-layers").textContent = String(ui.hidden.length);
}

function drawWeights(st) {
  if (!ui.net) return;
  let peak = 1e-9;
  for (const W of st.weights) for (const r of W) for (const w of r) peak = Math.max(peak, Math.abs(w));
  st.weights.forEach((W, li) => W.forEach((r, j) => r.forEach((w, k) => {
    const line = ui.net.lines[li][j][k];
    const t = Math.abs(w) / peak;
    line.vis.setAttribute("stroke", w >= 0 ? "#0877bd" : "#f59322");
    line.vis.setAttribute("stroke-width", (0.6 + 6 * t).toFixed(2));
    line.vis.setAttribute("stroke-opacity", (0.35 + 0.65 * t).toFixed(2));
    line.title.textContent = `W${li + 1}[${j},${k}] = ${w.toPrecision(4)}`;
  })));
}

const unitCanvas = document.createElement("canvas");
function drawUnits(st) {
  if (!ui.net) return;
  const n = st.unit_grid;
  unitCanvas.width = n; unitCanvas.height = n;
  const ctx = unitCanvas.getContext("2d"), img = ctx.createImageData(n, n);
  const paint = (image, vals) => {
    for (let i = 0; i < n * n; i++) img.data.set(diverging(vals(i)).concat(255), 4 * i);
    ctx.putImageData(img, 0, 0);
    image.setAttribute("href", unitCanvas.toDataURL());
  };
  // the inputs: x1 and x2 themselves over the plane, drawn once per run
  if (!ui.net.inputsDrawn) {
    ui.net.images[0].forEach((image, j) => paint(image, (i) => (j === 0 ? (i % n) / (n - 1)
                                                                       : 1 - Math.floor(i / n) / (n - 1))));
    ui.net.inputsDrawn = true;
  }
  st.units.forEach((layer, li) => layer.forEach((b64, j) => {
    const v = bytes(b64);
    paint(ui.net.images[li + 1][j], (i) => v[i] / 255);
  }));
}

function drawCurves(h) {
  const svg = $("curves"), W = svg.clientWidth || 320, H = svg.clientHeight || 150;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.innerHTML = "";
  const pad = { l: 36, r: 8, t: 8, b: 20 };
  const vals = h.train.concat(h.val).filter((v) => v !== null && isFinite(v));
  if (!h.steps.length || !vals.length) return;
  const top = Math.max(...vals) * 1.05 || 1, last = Math.max(1, h.steps[h.steps.length - 1]);
  const X = (s) => pad.l + (W - pad.l - pad.r) * s / last;
  const Y = (v) => H - pad.b - (H - pad.t - pad.b) * Math.min(v, top) / top;
  el("line", { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: "#c9d1d9" }, svg);
  el("line", { x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, stroke: "#c9d1d9" }, svg);
  el("text", { x: pad.l - 4, y: pad.t + 8, "text-anchor": "end" }, svg).textContent = top.toPrecision(2);
  el("text", { x: pad.l - 4, y: H - pad.b, "text-anchor": "end" }, svg).textContent = "0";
  el("text", { x: W - pad.r, y: H - 6, "text-anchor": "end" }, svg).textContent = `step ${last}`;
  const path = (series, attrs) => {
    const pts = [];
    series.forEach((v, i) => { if (v !== null) pts.push(`${X(h.steps[i]).toFixed(1)},${Y(v).toFixed(1)}`); });
    if (pts.length) el("polyline", Object.assign({ points: pts.join(" "), fill: "none" }, attrs), svg);
  };
  path(h.val, { stroke: "#f59322", "stroke-width": 2, "stroke-dasharray": "5 3" });
  path(h.train, { stroke: "#212b36", "stroke-width": 2 });
}

function drawFindings(st) {
  const ul = $("findings");
  const key = JSON.stringify([st.findings, st.diverged]);
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.innerHTML = "";
  if (st.diverged) {
    const li = document.createElement("li");
    li.innerHTML = "<b>diverged</b>";
    li.appendChild(document.createTextNode(" " + st.diverged));
    ul.appendChild(li);
  }
  if (!st.findings.length && !st.diverged) {
    const li = document.createElement("li");
    li.className = "ok";
    li.textContent = "cr.diagnose finds no problem: no identical units, no dead ReLUs, no vanishing or exploding gradients.";
    ul.appendChild(li);
  }
  for (const f of st.findings) {
    const li = document.createElement("li");
    li.dataset.kind = f.kind;
    const b = document.createElement("b");
    b.textContent = f.kind.replace("_", " ");
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = "hint: " + f.hint;
    li.append(b, document.createTextNode(" " + f.message), hint);
    ul.appendChild(li);
  }
}

// -- explaining one weight or unit ----------------------------------------------------------
function select(target) {
  const scope = document.querySelector("input[name=scope]:checked").value;
  target.example = scope === "example" ? Number($("d-example").value) : null;
  ui.selected = target;
  markSelected();
  refreshDetail(true);
  drawPoints();
}

function markSelected() {
  document.querySelectorAll("#network .sel").forEach((e) => e.classList.remove("sel"));
  const s = ui.selected;
  if (!s || !ui.net) return;
  if (s.kind === "weight") ui.net.lines[s.layer - 1][s.row][s.col].group.classList.add("sel");
  else document.querySelector(`#network .unit[data-layer="${s.layer}"][data-unit="${s.unit}"]`)
    ?.classList.add("sel");
}

async function refreshDetail(now) {
  const t = performance.now();
  if (!ui.selected || ui.detailBusy || (!now && t - ui.detailAt < 250)) return;
  ui.detailBusy = true; ui.detailAt = t;
  try { showDetail(await api(`/api/runs/${ui.run}/explain`, ui.selected)); }
  catch (err) { toast(err.message); }
  finally { ui.detailBusy = false; }
}

function num(x) { return x === null || x === undefined ? "–" : Number(x).toPrecision(6); }

function showDetail(d) {
  $("weight-detail").hidden = false;
  $("d-title").textContent = d.name;
  $("d-connects").textContent = d.kind === "weight"
    ? `${d.connects}; in Python: ${d.python}` : (d.forward || d.general);
  $("d-value-label").textContent = d.kind === "weight" ? "value w" : (d.layer === 0 ? "value" : "output A");
  $("d-value").textContent = num(d.value);
  const bias = d.kind === "unit" && d.layer > 0;
  $("d-grad-label").textContent = d.kind === "weight" ? "dJ/dw" : bias ? `dJ/db${d.layer}[${d.unit}]` : "dJ/dw";
  $("d-grad").textContent = d.layer === 0 && d.kind === "unit" ? "– (an input, not a parameter)" : num(d.grad);
  $("d-scope-text").textContent = d.scope ? `over ${d.scope}` : "";
  const eq = $("d-equation");
  eq.innerHTML = "";
  const line = (cls, text) => {
    const s = document.createElement("div");
    s.className = cls; s.textContent = text; eq.appendChild(s);
  };
  if (bias) line("n", `bias b${d.layer}[${d.unit}] = ${num(d.bias)}`);
  line("g", d.general);
  if (d.entry) line("", d.entry);
  line("n", "  = " + d.plugged);
  if (d.delta) {
    line("sep", "where the error dZ comes from");
    line("g", d.delta.general);
    line("", d.delta.entry);
    line("n", "  " + d.delta.plugged);
  }
  if (d.update) { line("sep", "and then"); line("", d.update); }
  $("d-table").textContent = d.table || "";
  $("d-table-box").hidden = !d.table;
  if (d.table) $("d-table-box").open = true;
}

// -- CSV upload -----------------------------------------------------------------------------
function loadCsv(file) {
  if (!file) return;
  if (file.size > ui.options.limits.max_csv_bytes) {
    toast(`${file.name} is ${file.size} bytes; the playground takes at most ${ui.options.limits.max_csv_bytes}`);
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    ui.csv = String(reader.result); ui.csvName = file.name;
    $("dataset").value = "csv";
    $("standardize").checked = true;
    newRun();
  };
  reader.readAsText(file);
}

// -- wiring ---------------------------------------------------------------------------------
function datasetChanged() {
  const d = datasetInfo($("dataset").value);
  if (d.name === "csv" && !ui.csv) { $("file").click(); return; }
  if (d.name !== "csv") { $("noise").value = d.noise; $("n-samples").value = d.n_samples; }
  configChanged();
}

async function init() {
  setPlaying(false);
  ui.options = await api("/api/options");
  const o = ui.options, d = o.defaults;
  fillSelect("dataset", o.datasets, d.dataset);
  fillSelect("activation", o.activations, d.activation);
  fillSelect("output", o.outputs, d.output);
  fillSelect("init", o.inits, d.init);
  fillSelect("optimizer", o.optimizers, d.optimizer);
  const ds = datasetInfo(d.dataset);
  $("noise").value = ds.noise; $("n-samples").value = ds.n_samples;
  $("lr").value = d.lr; $("batch-size").value = d.batch_size; $("seed").value = d.seed;
  $("val-split").value = Math.round(d.val_split * 100);
  ui.hidden = d.hidden.slice();

  $("dataset").addEventListener("change", datasetChanged);
  for (const id of ["noise", "n-samples", "val-split", "seed", "standardize", "activation",
                    "output", "init", "optimizer", "lr", "batch-size"]) {
    $(id).addEventListener("change", configChanged);
  }
  $("layer-plus").onclick = () => {
    if (ui.hidden.length < o.limits.max_layers) { ui.hidden.push(ui.hidden.at(-1) || 4); configChanged(); }
  };
  $("layer-minus").onclick = () => { if (ui.hidden.length) { ui.hidden.pop(); configChanged(); } };
  $("train").onclick = () => { setPlaying(!ui.playing); if (ui.playing) playLoop(); };
  $("step-once").onclick = () => { pause(); step(1); };
  $("reset").onclick = newRun;
  $("d-close").onclick = () => { $("weight-detail").hidden = true; ui.selected = null; markSelected(); drawPoints(); };
  document.querySelectorAll("input[name=scope]").forEach((r) => r.addEventListener("change", () => {
    if (ui.selected) select(ui.selected);
  }));
  $("d-example").addEventListener("change", () => {
    document.querySelector("input[name=scope][value=example]").checked = true;
    if (ui.selected) select(ui.selected);
  });
  $("points").addEventListener("click", pickExample);
  $("export").onclick = exportRun;
  $("file").addEventListener("change", (e) => loadCsv(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over"); loadCsv(e.dataTransfer.files[0]);
  });
  window.addEventListener("resize", () => { if (ui.desc) { drawNetworkFrame(); applyState(ui.state); } });
  window.addEventListener("pagehide", () => {
    if (ui.run) navigator.sendBeacon(`/api/runs/${ui.run}/delete`, new Blob(["{}"], { type: "application/json" }));
  });
  await newRun();
}

function pickExample(e) {
  if (!ui.desc) return;
  const cv = $("points"), rect = cv.getBoundingClientRect();
  const mx = (e.clientX - rect.left) / rect.width * cv.width, my = (e.clientY - rect.top) / rect.height * cv.height;
  let best = -1, bestD = 18 * 18 * (cv.width / rect.width) ** 2;
  ui.desc.points.forEach((p, idx) => {
    if (ui.desc.train_index[idx] < 0) return;
    const [px, py] = toCanvas(p[0], p[1], cv.width, cv.height);
    const dd = (px - mx) ** 2 + (py - my) ** 2;
    if (dd < bestD) { bestD = dd; best = ui.desc.train_index[idx]; }
  });
  if (best < 0) return;
  $("d-example").value = best;
  document.querySelector("input[name=scope][value=example]").checked = true;
  select(ui.selected || { kind: "weight", layer: ui.desc.sizes.length - 1, row: 0, col: 0 });
}

async function exportRun() {
  if (!ui.run) return;
  $("dl-model").href = `/api/runs/${ui.run}/model.safetensors`;
  $("dl-code").href = `/api/runs/${ui.run}/train.py`;
  try {
    const res = await fetch(`/api/runs/${ui.run}/train.py`);
    if (!res.ok) throw new Error((await res.json()).error);
    $("code").textContent = await res.text();
    $("export-box").hidden = false;
  } catch (err) { toast(err.message); }
}

init().catch((err) => toast(err.message));
