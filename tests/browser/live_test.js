// live_test.js — the live view of a training run served with --serve, in a real browser
// (tests/cli_browser.sh runs it while `digitnet mlp ... --serve` trains).
// usage: node live_test.js URL_FILE OUTDIR EPOCHS MODEL
// Starts chromium first and says so in URL_FILE.ready, then waits for the server's address in
// URL_FILE (the shell starts the run on the first and writes the second once the run prints
// it), so that the page opens as the run starts. Loads the page while the run trains and watches its table: rows arrive while the page is
// open (fewer than EPOCHS when first seen, more later), the state turns from training to
// done, the table ends with EPOCHS rows whose epochs and test accuracies are the run's
// (GET /api/run), the curves are drawn, and then the trained model MODEL is the one the
// page predicts with: a seven drawn with the mouse is answered by MODEL. Writes
// OUTDIR/live.png. Exit 0 when every check passed, 1 otherwise (each failure one line).
'use strict';
const path = require('path');
const { launch, SEVEN, drawStrokes, waitAnswer } = require('./browser.js');

const fs = require('fs');
const [urlFile, outdir, epochsText, model] = process.argv.slice(2);
const epochs = Number(epochsText);
const failures = [];
const fail = (msg) => { failures.push(msg); console.log(`FAIL: ${msg}`); };

const snapshot = (page) => page.evaluate(() => ({
  shown: !document.getElementById('live').hidden,
  state: document.getElementById('live-state').textContent,
  rows: [...document.querySelectorAll('#live-table tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent)),
  columns: [...document.querySelectorAll('#live-table thead th')].map((th) => th.textContent),
  curves: [...document.querySelectorAll('#curves polyline')].map((p) => p.getAttribute('points').split(' ').filter(Boolean).length),
}));

async function addressOfTheRun() { // URL_FILE, once the shell has written it (at most 30 s)
  for (let i = 0; i < 600; i++) {
    const text = fs.existsSync(urlFile) ? fs.readFileSync(urlFile, 'utf8').trim() : '';
    if (text.endsWith('/')) return text;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no address of the run in ${urlFile} after 30 s`);
}

async function main() {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    fs.writeFileSync(`${urlFile}.ready`, 'ready\n');
    const url = await addressOfTheRun();
    page.on('pageerror', (e) => fail(`the page threw: ${e.message}`));
    await page.goto(url, { waitUntil: 'load', timeout: 10000 });
    await page.waitForSelector('body[data-loaded="yes"]', { timeout: 10000 });
    // watch the table every 50 ms until the run is done
    const seen = [];
    const t0 = Date.now();
    let now;
    do {
      now = await snapshot(page);
      if (!seen.length || seen[seen.length - 1].rows !== now.rows.length) seen.push({ state: now.state, rows: now.rows.length });
      if (now.state === 'done') break;
      await new Promise((r) => setTimeout(r, 50));
    } while (Date.now() - t0 < 60000);
    if (!now.shown) fail('the live view is hidden during a served run');
    if (now.state !== 'done') fail(`the run is not shown as done after 60 s (state '${now.state}')`);
    const first = seen[0];
    if (!(first.state.startsWith('training') && first.rows < epochs)) fail(`the page was opened on a finished table (${first.rows} rows, '${first.state}'): the run was too quick to watch`);
    if (!seen.some((s) => s.state.startsWith('training') && s.rows > first.rows)) fail(`no row arrived while the page watched: ${JSON.stringify(seen)}`);
    const run = await page.evaluate(() => fetch('api/run').then((r) => r.json()));
    if (now.rows.length !== epochs || run.rows.length !== epochs) fail(`${now.rows.length} rows shown, ${run.rows.length} in the run, ${epochs} epochs trained`);
    const acc = run.columns.indexOf('test_accuracy');
    if (JSON.stringify(now.columns) !== JSON.stringify(run.columns)) fail(`the table's columns ${now.columns} are not the run's ${run.columns}`);
    now.rows.forEach((r, k) => {
      if (Number(r[0]) !== k + 1) fail(`row ${k} of the table is epoch ${r[0]}`);
      if (run.rows[k] && Math.abs(Number(r[acc]) - run.rows[k][acc]) > 5e-4) fail(`epoch ${k + 1}: the table shows test accuracy ${r[acc]}, the run ${run.rows[k][acc]}`);
    });
    if (!now.curves.length || now.curves.some((n) => n !== epochs)) fail(`curves of ${now.curves} points drawn for ${epochs} epochs`);
    // the trained model is the page's now
    await page.waitForFunction((m) => window.dnPage.model && window.dnPage.model.name === m, { timeout: 10000 }, model)
      .catch(() => fail(`the page did not switch to the trained model ${model}`));
    await drawStrokes(page, SEVEN);
    await waitAnswer(page, model).catch(() => fail(`no answer from the trained model ${model} for a drawing`));
    const digit = await page.$eval('#digit', (d) => d.textContent.trim());
    if (!/^[0-9]$/.test(digit)) fail(`the page shows '${digit}' for a seven drawn on the trained model`);
    await page.screenshot({ path: path.join(outdir, 'live.png'), fullPage: true });
    console.log(`live_test: watched ${JSON.stringify(seen.map((s) => s.rows))} rows arrive, ${now.rows.length} in the end; ` +
      `the trained model answers ${digit}`);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(failures.length ? 1 : 0), (e) => { console.log(`FAIL: ${e.message}`); process.exit(1); });
