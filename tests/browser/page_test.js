// page_test.js — the page of `digitnet serve` in a real browser (tests/cli_browser.sh runs it).
// usage: node page_test.js URL OUTDIR
// Environment: DN_PUPPETEER (the puppeteer-core package folder), DN_CHROMIUM (the browser),
// DN_DOC_SCREENSHOT (optional: also write the README's screenshot there, the whole page 1200 wide).
// Drives Debian's chromium headless against a server of two models, an MLP named mlp (the
// first) and a perceptron named pta: loads the page, draws a seven with the mouse along a
// stroke path, waits for the prediction and checks what the page shows against the answer it
// was drawn from; clears and draws again; then picks the perceptron with the keyboard and
// checks its view (scores, templates, contribution map). Writes to OUTDIR: page.png and
// page-perceptron.png (screenshots), and per model NAME.idx (the 28 x 28 image the server
// returned, as a one-image IDX file for `digitnet predict`) and NAME.json (the digit and the
// values shown). Exit 0 when every check passed, 1 otherwise (each failure one line).
'use strict';
const fs = require('fs');
const path = require('path');
const { launch, SEVEN, drawStrokes, waitAnswer } = require('./browser.js');

const [url, outdir] = process.argv.slice(2);
const failures = [];
const fail = (msg) => { failures.push(msg); console.log(`FAIL: ${msg}`); };

function idx(pixels) { // a one-image IDX3 file: magic 0x803, count, rows, columns, then the bytes
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0); head.writeUInt32BE(1, 4); head.writeUInt32BE(28, 8); head.writeUInt32BE(28, 12);
  return Buffer.concat([head, Buffer.from(pixels)]);
}

// What the page shows, and the answer it was drawn from.
function readPage(page) {
  return page.evaluate(() => {
    const s = window.dnPage;
    const bars = [...document.querySelectorAll('#bars .bar')];
    const blank = (c) => { // every pixel the same colour: nothing drawn
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (let i = 4; i < d.length; i++) if (d[i] !== d[i % 4]) return false;
      return true;
    };
    const visible = (id) => { const e = document.getElementById(id); return !!e && e.getClientRects().length > 0; };
    const units = [...document.querySelectorAll('#all-units canvas')];
    const last = s.last || {};
    return {
      model: last.model,
      kind: last.kind,
      digit: document.getElementById('digit').textContent.trim(),
      lastDigit: last.digit,
      values: last.kind === 'perceptron' ? last.scores : last.probabilities,
      contributions: last.contributions && last.contributions[last.digit],
      input: (document.getElementById('input').dataset.pixels || '').split(',').filter((v) => v !== '').map(Number),
      inputBlank: blank(document.getElementById('input')),
      barValues: bars.map((b) => Number(b.dataset.value)),
      barTexts: bars.map((b) => b.querySelector('.value').textContent),
      barLabels: bars.map((b) => b.getAttribute('aria-label')),
      barWidths: bars.map((b) => b.querySelector('.fill').getBoundingClientRect().width / b.querySelector('.track').getBoundingClientRect().width),
      units: units.length,
      unitsDrawn: units.filter((c) => !blank(c)).length,
      hotUnits: units.filter((c) => c.classList.contains('hot')).map((c) => Number(c.dataset.unit)),
      hot: units.filter((c) => c.classList.contains('hot')).length,
      firstLayer: s.model && s.model.layers[1],
      topUnits: [...document.querySelectorAll('#top-units canvas')].filter((c) => !blank(c)).length,
      strips: [...document.querySelectorAll('#strips canvas')].map((c) => !blank(c)),
      stripsVisible: visible('strips'),
      hiddenLayers: s.model && s.model.layers.length - 2,
      contribDrawn: visible('contrib') && !blank(document.getElementById('contrib')),
      live: !document.getElementById('live').hidden,
      ariaLive: document.querySelector('[aria-live="polite"] #digit') !== null,
    };
  });
}

// Checks common to both kinds: the digit is the answer's and its largest value; the input is shown.
function checkCommon(shown) {
  const name = shown.model;
  if (!/^[0-9]$/.test(shown.digit)) fail(`${name}: the page shows '${shown.digit}' as the digit`);
  if (String(shown.lastDigit) !== shown.digit) fail(`${name}: the page shows ${shown.digit}, the server answered ${shown.lastDigit}`);
  if (!Array.isArray(shown.values) || shown.values.length !== 10) { fail(`${name}: no 10 values in the answer`); return false; }
  const top = shown.values.indexOf(Math.max(...shown.values));
  if (String(top) !== shown.digit) fail(`${name}: the page shows ${shown.digit}, the largest value is ${top}'s`);
  if (shown.barValues.length !== 10) fail(`${name}: ${shown.barValues.length} bars, not 10`);
  shown.barValues.forEach((v, k) => {
    if (v !== shown.values[k]) fail(`${name}: bar ${k} holds ${v}, the answer says ${shown.values[k]}`);
    if (!shown.barLabels[k] || !shown.barLabels[k].includes(shown.barTexts[k])) fail(`${name}: bar ${k}'s accessible label '${shown.barLabels[k]}' lacks its value '${shown.barTexts[k]}'`);
  });
  if (shown.input.length !== 784 || shown.input.some((v) => !(v >= 0 && v <= 255 && Number.isInteger(v)))) fail(`${name}: the page's input image has ${shown.input.length} values, not 784 bytes`);
  if (shown.inputBlank) fail(`${name}: the 28 x 28 input image is blank on the page`);
  if (shown.units !== Math.min(shown.firstLayer, 400)) fail(`${name}: ${shown.units} unit images for a first layer of ${shown.firstLayer}`);
  if (shown.unitsDrawn !== shown.units) fail(`${name}: only ${shown.unitsDrawn} of ${shown.units} weight images have any pixels drawn`);
  if (shown.topUnits < 1) fail(`${name}: no large images of the units that fire most`);
  if (!shown.ariaLive) fail(`${name}: the predicted digit is not in an aria-live region`);
  if (shown.live) fail(`${name}: the live training view is shown for a plain digitnet serve`);
  return true;
}

function checkMlp(shown) {
  if (shown.kind !== 'mlp') fail(`the first model answered as '${shown.kind}', not mlp`);
  if (!checkCommon(shown)) return;
  const sum = shown.barValues.reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 1e-5) fail(`mlp: the 10 bars' values sum to ${sum}, not 1`);
  shown.barValues.forEach((v, k) => {
    const text = `${(100 * v).toFixed(1)} %`;
    if (shown.barTexts[k] !== text) fail(`mlp: bar ${k} reads '${shown.barTexts[k]}', expected '${text}'`);
    if (Math.abs(shown.barWidths[k] - v) > 0.01) fail(`mlp: bar ${k} is drawn ${shown.barWidths[k].toFixed(3)} of its track long for ${v}`);
  });
  const drawn = shown.barWidths.reduce((a, b) => a + b, 0);
  if (Math.abs(drawn - 1) > 0.02) fail(`mlp: the bars' drawn lengths add up to ${drawn.toFixed(4)} of a track, not 1`);
  if (shown.hot < 1) fail('mlp: no first-layer unit is highlighted as firing');
  if (!shown.stripsVisible || shown.strips.length !== shown.hiddenLayers || shown.strips.some((d) => !d)) fail(`mlp: heat strips drawn: ${JSON.stringify(shown.strips)} for ${shown.hiddenLayers} hidden layers`);
}

function checkPerceptron(shown) {
  if (shown.kind !== 'perceptron') fail(`the second model answered as '${shown.kind}', not perceptron`);
  if (!checkCommon(shown)) return;
  const m = Math.max(...shown.values.map(Math.abs));
  shown.barValues.forEach((v, k) => {
    if (Math.abs(Number(shown.barTexts[k]) - v) > 0.006 * Math.max(1, Math.abs(v))) fail(`pta: bar ${k} reads '${shown.barTexts[k]}' for the score ${v}`);
    if (Math.abs(shown.barWidths[k] - 0.5 * Math.abs(v) / m) > 0.01) fail(`pta: bar ${k} is drawn ${shown.barWidths[k].toFixed(3)} of its track long for ${v} (largest ${m})`);
  });
  if (shown.units !== 10) fail(`pta: ${shown.units} templates, not 10`);
  if (shown.hotUnits.length !== 1 || String(shown.hotUnits[0]) !== shown.digit) fail(`pta: templates ${shown.hotUnits} ringed, not the predicted ${shown.digit}'s`);
  if (!shown.contribDrawn) fail('pta: the contribution map of the predicted class is not drawn');
  const sum = (shown.contributions || []).reduce((a, b) => a + b, 0);
  const score = shown.values[Number(shown.digit)];
  if (!(Math.abs(sum - score) <= 1e-4 * Math.max(1, Math.abs(score)))) fail(`pta: the contributions drawn sum to ${sum}, the score is ${score}`);
  if (shown.stripsVisible) fail('pta: heat strips shown for a perceptron (it has no hidden layer)');
}

function save(name, shown) {
  fs.writeFileSync(path.join(outdir, `${name}.idx`), idx(shown.input.length === 784 ? shown.input : new Array(784).fill(0)));
  fs.writeFileSync(path.join(outdir, `${name}.json`), JSON.stringify({ digit: shown.digit, values: shown.values }));
}

async function main() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    const external = [];
    page.on('pageerror', (e) => fail(`the page threw: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') fail(`the page logged an error: ${m.text()}`); });
    page.on('request', (r) => { if (!r.url().startsWith(new URL(url).origin) && !r.url().startsWith('data:')) external.push(r.url()); });
    await page.goto(url, { waitUntil: 'load', timeout: 10000 });
    await page.waitForSelector('body[data-loaded="yes"][data-weights="ready"]', { timeout: 10000 });

    const picker = await page.$eval('#picker', (e) => !e.hidden);
    if (!picker) fail('two models are served but the page shows no model picker');

    // ---- the MLP (the first model, shown first)
    await drawStrokes(page, SEVEN);
    await waitAnswer(page, 'mlp');
    const mlp = await readPage(page);
    checkMlp(mlp);
    save('mlp', mlp);
    // clearing empties the prediction
    await page.click('#clear');
    const cleared = await page.$eval('#digit', (d) => d.dataset.digit === undefined && d.textContent === '–');
    if (!cleared) fail('Clear left the prediction on the page');
    await drawStrokes(page, SEVEN);
    await waitAnswer(page, 'mlp');
    await page.screenshot({ path: path.join(outdir, 'page.png'), fullPage: true });
    if (process.env.DN_DOC_SCREENSHOT) await page.screenshot({ path: process.env.DN_DOC_SCREENSHOT, fullPage: true });

    // ---- the perceptron, picked with the keyboard: the drawing stays and is predicted again
    await page.focus('#model');
    await page.keyboard.press('ArrowDown');
    await waitAnswer(page, 'pta');
    const pta = await readPage(page);
    checkPerceptron(pta);
    save('pta', pta);
    await page.screenshot({ path: path.join(outdir, 'page-perceptron.png'), fullPage: true });

    if (external.length) fail(`the page fetched from elsewhere: ${external.join(' ')}`);
    console.log(`page_test: the page shows ${mlp.digit} for the MLP (${(100 * Math.max(...(mlp.values || [0]))).toFixed(1)} %), ` +
      `${mlp.unitsDrawn} unit images drawn, ${mlp.hot} highlighted; ${pta.digit} for the perceptron; chromium ${await browser.version()}`);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failures.length ? 1 : 0), (e) => { console.log(`FAIL: ${e.message}`); process.exit(1); });
