// browser.js — what the browser tests share: Debian's chromium launched headless through
// puppeteer-core (DN_PUPPETEER, DN_CHROMIUM), and a digit drawn with the mouse.
'use strict';
const puppeteer = require(process.env.DN_PUPPETEER);

function launch() {
  return puppeteer.launch({
    executablePath: process.env.DN_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // root in a container: no sandbox; no GPU; /dev/shm may be tiny
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-crash-reporter', '--disable-breakpad'],
    defaultViewport: { width: 1200, height: 800, deviceScaleFactor: 1 },
    timeout: 15000,
  });
}

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

// Waits until the page shows the answer of MODEL for the drawing and asks nothing more.
async function waitAnswer(page, model) {
  await page.waitForFunction((m) => document.body.dataset.predict === 'idle' && document.body.dataset.weights === 'ready' &&
    window.dnPage.last && window.dnPage.last.model === m && document.getElementById('digit').dataset.digit !== undefined,
  { timeout: 10000 }, model);
}

module.exports = { launch, SEVEN, drawStrokes, waitAnswer };
