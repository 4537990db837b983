import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
if (process.argv[2] === 'prod') tf.enableProdMode();
console.log('PROD', tf.env().getBool('PROD'), 'DEBUG', tf.env().getBool('DEBUG'));
function time(name, f, n = 5000) {
  for (let i = 0; i < 200; i++) tf.dispose(tf.tidy(f));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.dispose(tf.tidy(f));
  const dt = (performance.now() - t0) / n * 1000;
  console.log(name.padEnd(40), dt.toFixed(1), 'µs');
}
const t1 = tf.tensor([1, 2]), t2 = tf.tensor([3, 4]);
time('add [2]', () => tf.add(t1, t2));
time('neg [2]', () => tf.neg(t1));
time('add [2] no tidy', () => tf.add(t1, t2));
const a = tf.randomNormal([50, 512]), b = tf.randomNormal([50, 512]);
time('add 50x512', () => tf.add(a, b));
time('sigmoid 50x512', () => tf.sigmoid(a));
let t0 = performance.now();
for (let i = 0; i < 5000; i++) { const c = tf.add(t1, t2); c.dispose(); }
console.log('raw add [2] loop', ((performance.now() - t0) / 5000 * 1000).toFixed(1), 'µs');
