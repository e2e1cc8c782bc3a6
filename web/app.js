// digitnet serve: the page. Plain JavaScript, no library, nothing fetched but this server's API
// (the contract: docs in the README, issue 20). State that tests read is in window.dnPage.
'use strict';

const $ = (id) => document.getElementById(id);
const TOP_UNITS = 8;          // first-layer units shown large: those that fire most for the drawing
const MAX_GRID_UNITS = 400;   // a wider first layer shows its first 400 in the grid (the top ones always)
const PREDICT_EVERY_MS = 60;  // at most one prediction request per this while drawing

const state = window.dnPage = {
  models: [],      // /api/models
  model: null,     // the chosen model's entry
  weights: null,   // /api/weights of layer 0 for the chosen model
  last: null,      // the last /api/predict response shown
  inked: false,    // the pad holds a stroke
};

// ---------------------------------------------------------------- API
async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { /* an error without JSON: the status says it */ }
  if (!res.ok) throw new Error((body && body.error) || `${path}: HTTP ${res.status}`);
  return body;
}
const query = (name) => `model=${encodeURIComponent(name)}`;

// ---------------------------------------------------------------- colours
// Diverging blue - near white - red, t in [-1, 1]: the sign of a weight matters as much as its size.
const NEG = [47, 109, 176], MID = [247, 247, 247], POS = [192, 57, 43];
function diverging(t) {
  const c = t < 0 ? NEG : POS, a = Math.min(1, Math.abs(t));
  return [0, 1, 2].map((i) => Math.round(MID[i] + (c[i] - MID[i]) * a));
}
// Sequential near white - teal for activations that are never negative.
const SEQ_LO = [246, 245, 241], SEQ_HI = [20, 92, 95];
function sequential(t) {
  const a = Math.max(0, Math.min(1, t));
  return [0, 1, 2].map((i) => Math.round(SEQ_LO[i] + (SEQ_HI[i] - SEQ_LO[i]) * a));
}
function maxAbs(values, from = 0, to = values.length) {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(values[i]));
  return m || 1;
}
// paint(canvas, values, from, colour): values[from ...] fill the canvas row by row.
function paint(canvas, values, from, colour) {
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(canvas.width, canvas.height);
  for (let p = 0; p < canvas.width * canvas.height; p++) {
    const [r, g, b] = colour(values[from + p]);
    img.data.set([r, g, b, 255], p * 4);
  }
  ctx.putImageData(img, 0, 0);
}
function paintDiverging(canvas, values, from = 0) {
  const m = maxAbs(values, from, from + canvas.width * canvas.height);
  paint(canvas, values, from, (v) => diverging(v / m));
}
const fmt = (v, digits = 3) => (Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3)) ? v.toExponential(2) : v.toFixed(digits);

// ---------------------------------------------------------------- the drawing pad
const pad = $('pad'), pen = pad.getContext('2d');
function clearPad() {
  pen.fillStyle = '#fff';
  pen.fillRect(0, 0, pad.width, pad.height);
  state.inked = false;
}
function setupPen() {
  pen.lineWidth = pad.width / 10; // about MNIST's stroke: 2-3 pixels of 28
  pen.lineCap = pen.lineJoin = 'round';
  pen.strokeStyle = '#111';
}
function padPoint(e) { // CSS pixels to canvas pixels: the pad is shown scaled on a phone
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}
let drawing = null; // the last point of the stroke being drawn
pad.addEventListener('pointerdown', (e) => {
  if (e.button !== 0) return;
  pad.setPointerCapture(e.pointerId);
  drawing = padPoint(e);
  pen.beginPath(); pen.arc(drawing[0], drawing[1], pen.lineWidth / 2, 0, 2 * Math.PI);
  pen.fillStyle = pen.strokeStyle; pen.fill();
  state.inked = true;
  e.preventDefault();
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  pen.beginPath(); pen.moveTo(drawing[0], drawing[1]);
  for (const c of (events.length ? events : [e])) { drawing = padPoint(c); pen.lineTo(drawing[0], drawing[1]); }
  pen.stroke();
  predictSoon();
});
function endStroke() { if (drawing) { drawing = null; predictNow(); } }
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
$('clear').addEventListener('click', () => { clearPad(); showNothing(); pad.focus(); });
pad.addEventListener('keydown', (e) => { if (e.key === 'Escape' || e.key === 'Delete') { clearPad(); showNothing(); } });

// ---------------------------------------------------------------- predictions
// One request in flight at a time; a drawing changed meanwhile is sent when it returns, so the
// answer shown is always for the last drawing and a slow server is never flooded.
let inFlight = false, dirty = false, lastSent = 0, timer = 0;
function predictSoon() {
  const wait = PREDICT_EVERY_MS - (performance.now() - lastSent);
  if (wait <= 0) predictNow();
  else if (!timer) timer = setTimeout(() => { timer = 0; predictNow(); }, wait);
}
function predictNow() {
  clearTimeout(timer); timer = 0;
  if (!state.inked || !state.model) return;
  if (inFlight) { dirty = true; return; }
  inFlight = true; dirty = false; lastSent = performance.now();
  document.body.dataset.predict = 'busy';
  const model = state.model.name;
  pad.toBlob(async (png) => {
    try {
      const answer = await api(`api/predict?${query(model)}`, { method: 'POST', body: png, headers: { 'Content-Type': 'image/png' } });
      if (state.model && answer.model === state.model.name && state.inked) show(answer);
      setStatus('');
    } catch (err) {
      setStatus(err.message, true);
    } finally {
      inFlight = false;
      if (dirty) predictNow();
      else document.body.dataset.predict = 'idle';
    }
  }, 'image/png');
}
function setStatus(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}

function show(answer) {
  state.last = answer;
  const input = $('input');
  paint(input, answer.input, 0, (v) => { const g = 255 - v; return [g, g, g]; });
  input.dataset.pixels = answer.input.join(',');
  const perceptron = answer.kind === 'perceptron';
  const values = perceptron ? answer.scores : answer.probabilities;
  const digit = $('digit');
  digit.textContent = String(answer.digit);
  digit.dataset.digit = String(answer.digit);
  digit.setAttribute('aria-label', `predicted digit ${answer.digit}`);
  $('confidence').textContent = perceptron ? `score ${fmt(values[answer.digit], 2)}` : `${(100 * values[answer.digit]).toFixed(1)} % sure`;
  drawBars(values, answer.digit, perceptron);
  if (perceptron) showPerceptron(answer); else showMlp(answer);
}
function showNothing() {
  state.last = null;
  const digit = $('digit');
  digit.textContent = '–'; delete digit.dataset.digit;
  digit.setAttribute('aria-label', 'no prediction yet');
  $('confidence').textContent = '';
  const input = $('input');
  input.getContext('2d').clearRect(0, 0, 28, 28); delete input.dataset.pixels;
  drawBars(null, -1, state.model && state.model.kind === 'perceptron');
  $('strips').querySelectorAll('canvas').forEach((c) => c.getContext('2d').clearRect(0, 0, c.width, c.height));
  $('top-units').replaceChildren();
  $('all-units').querySelectorAll('.hot').forEach((c) => c.classList.remove('hot'));
  $('contrib-box').hidden = true;
  setStatus('');
}

// The ten bars: DOM elements whose text is their value; data-value keeps the exact number.
function drawBars(values, digit, signed) {
  const list = $('bars');
  list.classList.toggle('signed', signed);
  $('bars-caption').textContent = signed ? 'scores (W x), one per class' : 'probabilities';
  const m = values ? maxAbs(values) : 1;
  const items = [];
  for (let k = 0; k < 10; k++) {
    const v = values ? values[k] : 0;
    const li = document.createElement('li');
    li.className = 'bar' + (k === digit ? ' best' : '');
    li.dataset.value = values ? String(v) : '';
    const text = values ? (signed ? fmt(v, 2) : `${(100 * v).toFixed(1)} %`) : '–';
    li.setAttribute('aria-label', `${k}: ${text}`);
    const fill = document.createElement('span');
    fill.className = 'fill';
    if (signed) { // from the middle: left for negative, right for positive
      const w = 50 * Math.abs(v) / m;
      fill.style.left = v < 0 ? `${50 - w}%` : '50%';
      fill.style.width = `${w}%`;
      if (v < 0) fill.classList.add('neg');
    } else {
      fill.style.width = `${100 * Math.max(0, v)}%`;
    }
    const track = document.createElement('span'); track.className = 'track'; track.append(fill);
    const label = document.createElement('span'); label.className = 'label'; label.textContent = k;
    const value = document.createElement('span'); value.className = 'value'; value.textContent = text;
    li.append(label, track, value);
    items.push(li);
  }
  list.replaceChildren(...items);
}

function showMlp(answer) {
  const layers = answer.activations || [];
  const strips = $('strips').querySelectorAll('.strip');
  layers.forEach((a, i) => {
    const strip = strips[i];
    if (!strip) return;
    const canvas = strip.querySelector('canvas');
    const lo = Math.min(...a), m = maxAbs(a);
    paint(canvas, a, 0, lo < 0 ? (v) => diverging(v / m) : (v) => sequential(v / m));
    const active = a.filter((v) => v > 0).length;
    const text = `${active} of ${a.length} units above 0, largest ${fmt(Math.max(...a), 2)}`;
    strip.querySelector('.stats').textContent = text;
    canvas.setAttribute('aria-label', `hidden layer ${i + 1}: ${text}`);
  });
  if (!layers.length || !state.weights) return;
  // the first hidden layer's units that fire most for this drawing
  const first = layers[0];
  const order = first.map((v, i) => i).sort((a, b) => first[b] - first[a]).slice(0, TOP_UNITS);
  const hot = new Set(order.filter((i) => first[i] > 0));
  $('all-units').querySelectorAll('canvas').forEach((c) => c.classList.toggle('hot', hot.has(+c.dataset.unit)));
  $('top-units').replaceChildren(...order.map((i) => unitFigure(i, `unit ${i}`, `a = ${fmt(first[i], 2)}`, false)));
}

function showPerceptron(answer) {
  $('all-units').querySelectorAll('canvas').forEach((c) => c.classList.toggle('hot', +c.dataset.unit === answer.digit));
  const order = answer.scores.map((v, k) => k).sort((a, b) => answer.scores[b] - answer.scores[a]).slice(0, 3);
  $('top-units').replaceChildren(...order.map((k) =>
    unitFigure(k, `template ${k}`, `score ${fmt(answer.scores[k], 2)}`, k === answer.digit)));
  const box = $('contrib-box'), canvas = $('contrib');
  paintDiverging(canvas, answer.contributions[answer.digit]);
  const caption = `Why a ${answer.digit}: each pixel's share of its score, W${answer.digit} ⊙ x (red for, blue against); ` +
    `they sum to ${fmt(answer.scores[answer.digit], 2)}.`;
  $('contrib-caption').textContent = caption;
  canvas.setAttribute('aria-label', caption);
  box.hidden = false;
}

// A large copy of unit i's weight image (already painted in the grid), with a caption.
function unitFigure(i, name, caption, predicted) {
  const fig = document.createElement('figure');
  if (predicted) fig.className = 'predicted';
  const c = document.createElement('canvas');
  c.width = c.height = 28;
  c.dataset.unit = i;
  paintDiverging(c, state.weights.weights, i * 784);
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', `${name} weights, ${caption}`);
  const cap = document.createElement('figcaption');
  cap.textContent = `${name} · ${caption}`;
  fig.append(c, cap);
  return fig;
}

// ---------------------------------------------------------------- models and their weights
async function chooseModel(name) {
  const model = state.models.find((m) => m.name === name) || state.models[0];
  state.model = model;
  state.weights = null;
  document.body.dataset.weights = 'loading';
  showNothing();
  if (!model) return;
  $('model').value = model.name;
  const perceptron = model.kind === 'perceptron';
  $('hidden-card').hidden = perceptron || model.layers.length <= 2;
  buildStrips(model);
  $('units-title').textContent = perceptron ? 'Templates: the rows of W' : 'First-layer units';
  try {
    state.weights = await api(`api/weights?${query(model.name)}&layer=0`);
    if (state.model !== model) return; // another model was picked meanwhile
    buildUnitGrid(model, state.weights);
  } catch (err) {
    setStatus(`weights: ${err.message}`, true);
  }
  if (state.inked) predictNow();
}

function buildStrips(model) {
  const strips = model.layers.slice(1, -1).map((n, i) => {
    const div = document.createElement('div');
    div.className = 'strip';
    const p = document.createElement('p');
    const act = (model.activations || [])[i] || '';
    p.innerHTML = `<strong>layer ${i + 1}</strong> · ${n} units ${act ? '· ' + act : ''} · <span class="stats"></span>`;
    const c = document.createElement('canvas');
    c.width = n; c.height = 1;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', `hidden layer ${i + 1}: no drawing yet`);
    div.append(p, c);
    return div;
  });
  $('strips').replaceChildren(...strips);
}

function buildUnitGrid(model, w) {
  const [n, inputs] = w.shape;
  const perceptron = model.kind === 'perceptron';
  const shown = Math.min(n, MAX_GRID_UNITS);
  const canvases = [];
  for (let i = 0; i < shown && inputs === 784; i++) {
    const c = document.createElement('canvas');
    c.width = c.height = 28;
    c.dataset.unit = i;
    c.title = perceptron ? `template ${i}` : `unit ${i}`;
    c.setAttribute('role', 'img');
    c.setAttribute('aria-label', `${c.title} weights`);
    paintDiverging(c, w.weights, i * inputs);
    if (perceptron) { // the ten templates carry their digit
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = i;
      fig.append(c, cap);
      canvases.push(fig);
    } else {
      canvases.push(c);
    }
  }
  $('all-units').replaceChildren(...canvases);
  $('all-units').classList.toggle('templates', perceptron);
  $('all-units-summary').textContent = perceptron ? 'the ten templates (W rows, 0 … 9)' :
    `all ${n} units of layer 1` + (shown < n ? ` (the first ${shown} shown)` : '');
  $('units-note').textContent = perceptron ?
    'Each class k scores W_k · x: its template says which pixels count for k (red) and against it (blue). The three best-scoring are large.' :
    `Each unit's ${inputs} weights as a 28 × 28 image (red: ink here excites it, blue: inhibits). Ringed: the ${TOP_UNITS} that fire most for your drawing.`;
  document.body.dataset.weights = 'ready';
}

async function loadModels(prefer) {
  state.models = (await api('api/models')).models || [];
  const select = $('model');
  select.replaceChildren(...state.models.map((m) => {
    const o = document.createElement('option');
    o.value = m.name;
    o.textContent = `${m.name} (${m.kind}, ${m.layers.join('-')})`;
    return o;
  }));
  $('picker').hidden = state.models.length < 2;
  $('draw-view').hidden = state.models.length === 0;
  $('waiting').hidden = state.models.length > 0;
  await chooseModel(prefer || (state.model && state.model.name));
}
$('model').addEventListener('change', (e) => chooseModel(e.target.value));

// ---------------------------------------------------------------- live training
const live = { columns: [], rows: [] };
async function startLive() {
  let run;
  try { run = await api('api/run'); } catch (e) { return; } // a server without training: no live view
  if (!run || (run.state !== 'training' && run.state !== 'done')) return;
  $('live').hidden = false;
  $('live-command').textContent = run.command || '';
  live.columns = run.columns || [];
  live.rows = run.rows || [];
  setLiveState(run.state);
  renderLive();
  if (run.state === 'done') return;
  const events = new EventSource('api/events');
  events.addEventListener('row', (e) => { addRow(JSON.parse(e.data)); renderLive(); });
  events.addEventListener('done', async (e) => {
    events.close();
    setLiveState('done');
    const done = JSON.parse(e.data);
    await loadModels(done.model);
  });
}
// A row replaces the one of the same epoch (or round): a stream that reconnects replays its rows.
function addRow(row) {
  const at = live.rows.findIndex((r) => r[0] === row[0]);
  if (at >= 0) live.rows[at] = row; else live.rows.push(row);
}
// A value of a row: null (the server's word for not finite) is no number.
const num = (v) => (v === null || v === undefined ? NaN : Number(v));
function setLiveState(s) {
  const pill = $('live-state');
  pill.textContent = s === 'done' ? 'done' : 'training…';
  pill.classList.toggle('done', s === 'done');
}
function renderLive() {
  const table = $('live-table');
  const head = document.createElement('tr');
  head.replaceChildren(...live.columns.map((c) => { const th = document.createElement('th'); th.scope = 'col'; th.textContent = c; return th; }));
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(...live.rows.map((r) => {
    const tr = document.createElement('tr');
    tr.replaceChildren(...r.map((v) => { const td = document.createElement('td'); td.textContent = v === null ? '–' : typeof v === 'number' && !Number.isInteger(v) ? String(Number(v.toPrecision(4))) : v; return td; }));
    return tr;
  }));
  const wrap = table.parentElement; wrap.scrollTop = wrap.scrollHeight;
  // curves: one chart for the accuracy-like columns, one for losses and errors, against the first column
  const groups = [['accuracy', (c) => /acc/i.test(c)], ['loss', (c) => /loss|err/i.test(c)]];
  const charts = groups.map(([title, test]) => {
    // a column with no number yet (validation_accuracy without --validation) gets no curve
    const cols = live.columns.map((c, i) => [c, i])
      .filter(([c, i]) => i > 0 && test(c) && live.rows.some((r) => Number.isFinite(num(r[i]))));
    return cols.length ? chart(title, cols) : null;
  }).filter(Boolean);
  $('curves').replaceChildren(...charts);
}
const CURVE_COLOURS = ['#1d6f72', '#d9822b', '#2f6db0', '#8e44ad'];
function chart(title, cols) {
  const W = 320, H = 180, L = 42, R = 10, T = 20, B = 22;
  const xs = live.rows.map((r) => num(r[0])).filter(Number.isFinite);
  const ys = cols.flatMap(([, i]) => live.rows.map((r) => num(r[i]))).filter(Number.isFinite);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  const last = live.rows[live.rows.length - 1];
  svg.setAttribute('aria-label', `${title} per ${live.columns[0] || 'step'}` +
    (last ? ': ' + cols.map(([c, i]) => `${c} ${Number.isFinite(num(last[i])) ? fmt(num(last[i]), 4) : 'none'}`).join(', ') : ''));
  const el = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    svg.append(e); return e;
  };
  const x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length > 1 ? Math.max(...xs) : x0 + 1;
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (!ys.length) { y0 = 0; y1 = 1; }
  if (y1 - y0 < 1e-9) { y0 -= 0.5; y1 += 0.5; }
  const px = (x) => L + (W - L - R) * (x - x0) / (x1 - x0 || 1);
  const py = (y) => T + (H - T - B) * (1 - (y - y0) / (y1 - y0));
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' });
  el('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' });
  el('text', { x: L - 4, y: T + 4, 'text-anchor': 'end' }, fmt(y1, 3));
  el('text', { x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(y0, 3));
  el('text', { x: L, y: H - 6 }, String(x0));
  el('text', { x: W - R, y: H - 6, 'text-anchor': 'end' }, `${live.columns[0] || ''} ${x1}`);
  cols.forEach(([c, i], k) => {
    const colour = CURVE_COLOURS[k % CURVE_COLOURS.length];
    const points = live.rows.filter((r) => Number.isFinite(num(r[0])) && Number.isFinite(num(r[i])));
    const pts = points.map((r) => `${px(num(r[0])).toFixed(1)},${py(num(r[i])).toFixed(1)}`).join(' ');
    el('polyline', { points: pts, fill: 'none', stroke: colour, 'stroke-width': 2, 'stroke-linejoin': 'round' });
    points.forEach((r) => el('circle', { cx: px(num(r[0])).toFixed(1), cy: py(num(r[i])).toFixed(1), r: 2.5, fill: colour }));
    el('text', { x: L + 8 + k * 90, y: 12, fill: colour, style: `fill:${colour}` }, c);
  });
  return svg;
}

// ---------------------------------------------------------------- start
setupPen();
clearPad();
drawBars(null, -1, false);
(async () => {
  try {
    await Promise.all([loadModels(), startLive()]);
    setStatus(state.model ? 'draw a digit' : '');
  } catch (err) {
    setStatus(err.message, true);
  }
  document.body.dataset.loaded = 'yes';
})();
