// onnx_run.js NAME MODEL.onnx DATA REF.npy PREDICTED.txt [W.npy] — runs the 10 000
// MNIST test images of DATA (t10k-*, raw or .gz) through ONNX Runtime
// (onnxruntime-node, found through NODE_PATH) and compares with digitnet:
//   REF.npy        digitnet's outputs, (10000, 10) float32 (`digitnet activations`)
//   PREDICTED.txt  digitnet's classes (`digitnet predict MODEL IMAGES`)
// MLP ("probabilities"): identical classes and max |p_onnx - p_digitnet| <= 1e-5.
// Perceptron ("scores", W.npy given): identical classes and, per score,
//   |s_onnx - s_digitnet| <= 2^-23 (|s_digitnet| + sum_k |W_jk| x_k):
// digitnet sums W x in double over x = pixel / 255 in double and rounds the
// score to float32 (at most 2^-24 |s|); the graph gets x as float32 (each x_k off
// by at most 2^-24 x_k, so the sum by at most 2^-24 sum_k |W_jk| x_k) and sums in
// double in another order (~1e-16 relative, negligible). Twice that bound is
// the tolerance; a relative one to |s| alone would not do, as a score near 0
// can be the sum of large terms of both signs.
// Prints the measured maximum differences; exits 1 on any failure.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

function readMaybeGz(path) {
  if (fs.existsSync(path)) return fs.readFileSync(path);
  return zlib.gunzipSync(fs.readFileSync(path + '.gz'));
}

function readIdx(path, magic) {
  const buf = readMaybeGz(path);
  if (buf.readUInt32BE(0) !== magic) throw new Error(`${path}: not an IDX file of magic ${magic}`);
  const count = buf.readUInt32BE(4);
  return { count, data: buf.subarray(magic === 0x803 ? 16 : 8) };
}

// A .npy file (format 1.0 or 2.0, C order, '<f4' or '<f8'): its shape and values.
function readNpy(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not a .npy file`);
  const v1 = buf[6] === 1;
  const start = v1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + (v1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8)));
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${path}: Fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',').filter((s) => s.trim()).map(Number);
  const bytes = buf.subarray(start + header.length);
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length); // aligned
  if (descr === '<f4') return { shape, data: new Float32Array(copy) };
  if (descr === '<f8') return { shape, data: new Float64Array(copy) };
  throw new Error(`${path}: dtype ${descr}, expected <f4 or <f8`);
}

function argmax(v, row) { // the first maximum, as digitnet takes it
  let best = 0;
  for (let j = 1; j < 10; j++) if (v[row * 10 + j] > v[row * 10 + best]) best = j;
  return best;
}

// sum_k |W_jk| x_k for image i and class j (the perceptron's tolerance).
function absoluteSums(w, pixels, count) {
  const s = new Float64Array(count * 10);
  for (let i = 0; i < count; i++)
    for (let j = 0; j < 10; j++) {
      let sum = 0;
      for (let k = 0; k < 784; k++) sum += Math.abs(w[j * 784 + k]) * (pixels[i * 784 + k] / 255);
      s[i * 10 + j] = sum;
    }
  return s;
}

async function main() {
  const [name, modelPath, data, refPath, predPath, wPath] = process.argv.slice(2);
  const images = readIdx(`${data}/t10k-images-idx3-ubyte`, 0x803);
  const labels = readIdx(`${data}/t10k-labels-idx1-ubyte`, 0x801);
  const n = images.count;
  const x = new Float32Array(n * 784);
  for (let i = 0; i < n * 784; i++) x[i] = images.data[i] / 255; // float32 of pixel / 255, as digitnet's

  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1 });
  const outName = wPath ? 'scores' : 'probabilities';
  const failures = [];
  if (session.inputNames.join() !== 'image' || session.outputNames.join() !== outName)
    failures.push(`inputs ${session.inputNames}, outputs ${session.outputNames}: expected image, ${outName}`);
  const run = async (rows, count) => (await session.run({ image: new ort.Tensor('float32', rows, [count, 784]) }))[outName];
  const out = await run(x, n);
  const wantType = wPath ? 'float64' : 'float32';
  if (!out || out.type !== wantType || out.dims.join() !== `${n},10`)
    throw new Error(`${outName}: ${out && out.type} (${out && out.dims}), expected ${wantType} (${n}, 10)`);
  const one = await run(x.subarray(0, 784), 1); // N is symbolic: one image alone gives row 0 again
  for (let j = 0; j < 10; j++)
    if (one.data[j] !== out.data[j]) { failures.push(`a batch of 1 differs from row 0 of the batch of ${n}`); break; }

  const ref = readNpy(refPath);
  if (ref.shape.join() !== `${n},10`) throw new Error(`${refPath}: shape (${ref.shape}), expected (${n}, 10)`);
  const predicted = fs.readFileSync(predPath, 'utf8').trim().split('\n').map((l) => Number(/ predicted: (\d) /.exec(l)[1]));
  if (predicted.length !== n) throw new Error(`${predPath}: ${predicted.length} predictions, expected ${n}`);

  let same = 0, correct = 0, maxAbs = 0, maxRel = 0, worst = 0;
  const scale = wPath ? absoluteSums(readNpy(wPath).data, images.data, n) : null;
  for (let i = 0; i < n; i++) {
    const c = argmax(out.data, i);
    same += c === predicted[i];
    correct += c === labels.data[i];
    if (c !== predicted[i] && failures.length < 5) failures.push(`image ${i}: ONNX Runtime says ${c}, digitnet ${predicted[i]}`);
    for (let j = i * 10; j < i * 10 + 10; j++) {
      const d = Math.abs(out.data[j] - ref.data[j]);
      maxAbs = Math.max(maxAbs, d);
      if (scale) {
        const rel = d / (Math.abs(ref.data[j]) + scale[j]);
        if (rel > maxRel) { maxRel = rel; worst = j; }
      }
    }
  }
  const what = wPath ? 's' : 'p';
  let line = `onnx_run: ${name}: ${n} images, classes identical ${same}/${n} (accuracy ${(correct / n).toFixed(4)}), ` +
             `max |${what}_onnx - ${what}_digitnet| = ${maxAbs.toExponential(3)}`;
  if (scale) {
    const bound = 2 ** -23;
    line += `, max |s_onnx - s_digitnet| / (|s_digitnet| + sum|W||x|) = ${maxRel.toExponential(3)} (tolerance 2^-23 = ` +
            `${bound.toExponential(3)}; at that score s = ${ref.data[worst].toFixed(4)}, sum|W||x| = ${scale[worst].toFixed(4)})`;
    if (!(maxRel <= bound)) failures.push(`scores differ by up to ${maxRel.toExponential(3)} relative, above 2^-23`);
  } else {
    line += ' (tolerance 1e-5)';
    if (!(maxAbs <= 1e-5)) failures.push(`probabilities differ by up to ${maxAbs.toExponential(3)}, above 1e-5`);
  }
  console.log(line);
  for (const f of failures) console.log(`FAIL: onnx_run: ${name}: ${f}`);
  return failures.length ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.log(`FAIL: onnx_run: ${process.argv[2]}: ${e.message}`);
  process.exit(1);
});
