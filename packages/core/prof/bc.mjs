import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function time(name, f, n = 500) {
  for (let i = 0; i < 50; i++) tf.dispose(tf.tidy(f));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = tf.tidy(f); r.dataSync(); r.dispose(); }
  console.log(name.padEnd(40), ((performance.now() - t0) / n * 1000).toFixed(0), 'µs');
}
const b = tf.randomNormal([512]); const f = tf.randomNormal([50, 512]);
time('broadcastTo [512]→[50,512]', () => tf.broadcastTo(b.reshape([1, 512]), [50, 512]));
time('add f + b (broadcast)', () => tf.add(f, b));
time('add f + f', () => tf.add(f, f));
time('sub f - 0.5', () => tf.sub(f, 0.5));
time('mul f * 4', () => tf.mul(f, 4));
time('sigmoid f', () => tf.sigmoid(f));
time('tanh f', () => tf.tanh(f));
const x = tf.randomUniform([50, 784]);
time('transpose x', () => tf.transpose(x));
