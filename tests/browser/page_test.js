// page_test.js — the page of `digitnet serve` in a real browser (tests/cli_browser.sh runs it).
// usage: node page_test.js URL OUTDIR
// Environment: DN_PUPPETEER (the puppeteer-core package folder), DN_CHROMIUM (the browser),
// DN_DOC_SCREENSHOT (optional: also write the README's screenshot there, 1200 x 800).
// Drives Debian's chromium headless: loads the page, draws a seven with the mouse along a
// stroke path, waits for the prediction and checks what the page shows against the data it
// was drawn from. Writes to OUTDIR: page.png (a screenshot), input.idx (the 28 x 28 image the
// server returned, as a one-image IDX file for `digitnet predict`) and shown.json (the digit
// and probabilities shown). Exit 0 when every check passed, 1 otherwise (each failure one line).
'use strict';
const fs = require('fs');
const path = require('path');
const puppeteer = require(process.env.DN_PUPPETEER);

const [url, outdir] = process.argv.slice(2);
const failures = [];
const fail = (msg) => { failures.push(msg); console.log(`FAIL: ${msg}`); };

// The seven: a bar from the top left to the top right, then down to the bottom left of the
// middle, in fractions of the canvas, in one stroke.
const SEVEN = [[[0.2, 0.22], [0.5, 0.2], [0.78, 0.2], [0.62, 0.48], [0.45, 0.82]]];

async function drawStrokes(page, strokes) {
  const box = await (await page.$('#pad')).boundingBox();
  const at = ([fx, fy]) => [box.x + fx * box.width, box.y + fy * box.height];
  for (const stroke of strokes) {
    const [x, y] = at(stroke[0]);
    await page.mouse.move(x, y);
    await page.mouse.down();
    for (const p of stroke.slice(1)) {
      const [px, py] = at(p);
      await page.mouse.move(px, py, { steps: 12 }); // pointermoves along the path, as a hand makes them
    }
    await page.mouse.up();
  }
}

function idx(pixels) { // a one-image IDX3 file: magic 0x803, count, rows, columns, then the bytes
  const head = Buffer.alloc(16);
  head.writeUInt32BE(0x803, 0); head.writeUInt32BE(1, 4); head.writeUInt32BE(28, 8); head.writeUInt32BE(28, 12);
  return Buffer.concat([head, Buffer.from(pixels)]);
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: process.env.DN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // root in a container: no sandbox; no GPU; /dev/shm may be tiny
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-crash-reporter', '--disable-breakpad'],
    defaultViewport: { width: 1200, height: 800, deviceScaleFactor: 1 },
    timeout: 15000,
  });
  try {
    const page = await browser.newPage();
    const external = [];
    page.on('pageerror', (e) => fail(`the page threw: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') fail(`the page logged an error: ${m.text()}`); });
    page.on('request', (r) => { if (!r.url().startsWith(new URL(url).origin) && !r.url().startsWith('data:')) external.push(r.url()); });
    await page.goto(url, { waitUntil: 'load', timeout: 10000 });
    await page.waitForSelector('body[data-loaded="yes"][data-weights="ready"]', { timeout: 10000 });

    await drawStrokes(page, SEVEN);
    await page.waitForSelector('body[data-predict="idle"] #digit[data-digit]', { timeout: 10000 });

    const shown = await page.evaluate(() => {
      const s = window.dnPage;
      const bars = [...document.querySelectorAll('#bars .bar')];
      const blank = (c) => { // every pixel the same colour: nothing drawn
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 4; i < d.length; i++) if (d[i] !== d[i % 4]) return false;
        return true;
      };
      const units = [...document.querySelectorAll('#all-units canvas')];
      return {
        digit: document.getElementById('digit').textContent.trim(),
        lastDigit: s.last && s.last.digit,
        probabilities: s.last && s.last.probabilities,
        input: (document.getElementById('input').dataset.pixels || '').split(',').filter((v) => v !== '').map(Number),
        inputBlank: blank(document.getElementById('input')),
        barValues: bars.map((b) => Number(b.dataset.value)),
        barTexts: bars.map((b) => b.querySelector('.value').textContent),
        barLabels: bars.map((b) => b.getAttribute('aria-label')),
        barWidths: bars.map((b) => b.querySelector('.fill').getBoundingClientRect().width / b.querySelector('.track').getBoundingClientRect().width),
        units: units.length,
        unitsDrawn: units.filter((c) => !blank(c)).length,
        firstLayer: s.model && s.model.layers[1],
        hot: document.querySelectorAll('#all-units canvas.hot').length,
        topUnits: [...document.querySelectorAll('#top-units canvas')].filter((c) => !blank(c)).length,
        strips: [...document.querySelectorAll('#strips canvas')].map((c) => !blank(c)),
        hiddenLayers: s.model && s.model.layers.length - 2,
        live: !document.getElementById('live').hidden,
        ariaLive: document.querySelector('[aria-live="polite"] #digit') !== null,
      };
    });

    // the digit shown is the one the server answered, and the bars are its probabilities
    if (!/^[0-9]$/.test(shown.digit)) fail(`the page shows '${shown.digit}' as the digit`);
    if (String(shown.lastDigit) !== shown.digit) fail(`the page shows ${shown.digit}, the server answered ${shown.lastDigit}`);
    if (!Array.isArray(shown.probabilities) || shown.probabilities.length !== 10) fail('no 10 probabilities in the answer');
    else {
      const sum = shown.barValues.reduce((a, b) => a + b, 0);
      if (shown.barValues.length !== 10 || Math.abs(sum - 1) > 1e-5) fail(`the 10 bars' values sum to ${sum}, not 1`);
      shown.barValues.forEach((v, k) => {
        if (v !== shown.probabilities[k]) fail(`bar ${k} holds ${v}, the answer says ${shown.probabilities[k]}`);
        const text = `${(100 * v).toFixed(1)} %`;
        if (shown.barTexts[k] !== text) fail(`bar ${k} reads '${shown.barTexts[k]}', expected '${text}'`);
        if (!shown.barLabels[k] || !shown.barLabels[k].includes(text)) fail(`bar ${k}'s accessible label '${shown.barLabels[k]}' lacks its value`);
      });
      const drawn = shown.barWidths.reduce((a, b) => a + b, 0);
      if (Math.abs(drawn - 1) > 0.02) fail(`the bars' drawn lengths add up to ${drawn.toFixed(4)} of a track, not 1`);
      const top = shown.probabilities.indexOf(Math.max(...shown.probabilities));
      if (String(top) !== shown.digit) fail(`the page shows ${shown.digit}, the largest probability is ${top}'s`);
    }
    if (shown.input.length !== 784 || shown.input.some((v) => !(v >= 0 && v <= 255 && Number.isInteger(v)))) fail(`the page's input image has ${shown.input.length} values, not 784 bytes`);
    if (shown.inputBlank) fail('the 28 x 28 input image is blank on the page');
    // the first layer's units as images, all drawn, the ones that fire most ringed
    if (shown.units !== Math.min(shown.firstLayer, 400)) fail(`${shown.units} unit images for a first layer of ${shown.firstLayer}`);
    if (shown.unitsDrawn !== shown.units) fail(`only ${shown.unitsDrawn} of ${shown.units} weight images have any pixels drawn`);
    if (shown.hot < 1) fail('no first-layer unit is highlighted as firing');
    if (shown.topUnits < 1) fail('no large images of the units that fire most');
    if (shown.strips.length !== shown.hiddenLayers || shown.strips.some((d) => !d)) fail(`heat strips drawn: ${JSON.stringify(shown.strips)} for ${shown.hiddenLayers} hidden layers`);
    if (!shown.ariaLive) fail('the predicted digit is not in an aria-live region');
    if (shown.live) fail('the live training view is shown for a plain digitnet serve');
    if (external.length) fail(`the page fetched from elsewhere: ${external.join(' ')}`);

    // clearing empties the prediction
    await page.click('#clear');
    const cleared = await page.$eval('#digit', (d) => d.dataset.digit === undefined && d.textContent === '–');
    if (!cleared) fail('Clear left the prediction on the page');
    // draw the seven again for the screenshots
    await drawStrokes(page, SEVEN);
    await page.waitForSelector('body[data-predict="idle"] #digit[data-digit]', { timeout: 10000 });

    fs.writeFileSync(path.join(outdir, 'input.idx'), idx(shown.input.length === 784 ? shown.input : new Array(784).fill(0)));
    fs.writeFileSync(path.join(outdir, 'shown.json'), JSON.stringify({ digit: shown.digit, probabilities: shown.probabilities }));
    await page.screenshot({ path: path.join(outdir, 'page.png'), fullPage: true });
    if (process.env.DN_DOC_SCREENSHOT) await page.screenshot({ path: process.env.DN_DOC_SCREENSHOT });
    console.log(`page_test: the page shows ${shown.digit} (${(100 * Math.max(...(shown.probabilities || [0]))).toFixed(1)} %), ` +
      `${shown.unitsDrawn} unit images drawn, ${shown.hot} highlighted; chromium ${await browser.version()}`);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failures.length ? 1 : 0), (e) => { console.log(`FAIL: ${e.message}`); process.exit(1); });
