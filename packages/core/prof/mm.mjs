import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function time(name, f, n = 200, flop = 0) {
  for (let i = 0; i < 20; i++) tf.dispose(tf.tidy(f));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = tf.tidy(f); r.dataSync(); r.dispose(); }
  const dt = (performance.now() - t0) / n;
  console.log(name.padEnd(50), (dt*1000).toFixed(0), 'µs', flop ? (flop / dt / 1e6).toFixed(1) + ' GFLOP/s' : '');
}
const x = tf.randomUniform([50, 784]), w0 = tf.randomNormal([784, 512]);
const F = 2 * 50 * 784 * 512;
time('x·W0 same W', () => tf.matMul(x, w0), 200, F);
time('x·W0 fresh W (clone)', () => tf.matMul(x, w0.clone()), 200, F);
time('W0 clone only', () => w0.clone(), 200);
const w0T = tf.randomNormal([512, 784]);
time('x·W0T^T (transposeB flag)', () => tf.matMul(x, w0T, false, true), 50, F);
time('W0T·xT ([512,784]x[784,50])', () => tf.matMul(w0T, x, false, true), 50, F);
const xT = tf.randomUniform([784, 50]);
time('W0T·xT explicit', () => tf.matMul(w0T, xT), 200, F);
const ds = tf.randomNormal([50, 512]);
time('xT·ds ([784,50]x[50,512])', () => tf.matMul(xT, ds), 200, F);
time('transpose x', () => tf.transpose(x), 200);
const big = tf.randomNormal([500, 784]);
time('[500,784]x[784,512]', () => tf.matMul(big, w0), 50, F * 10);
