import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function time(name, f, n = 100) {
  for (let i = 0; i < 10; i++) tf.dispose(tf.tidy(f));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = tf.tidy(f); r.dataSync(); r.dispose(); }
  const dt = (performance.now() - t0) / n;
  console.log(name.padEnd(50), (dt*1000).toFixed(0), 'µs');
}
const w0 = tf.randomNormal([784, 512]);
const w0T = tf.randomNormal([512, 784]);
for (const m of [1, 10, 50, 200]) {
  const x = tf.randomUniform([m, 784]);
  const xT = tf.randomUniform([784, m]);
  time(`[${m},784]x[784,512] (W as B)`, () => tf.matMul(x, w0));
  time(`[512,784]x[784,${m}] (W as A)`, () => tf.matMul(w0T, xT));
}
time('transpose W0', () => tf.transpose(w0), 50);
time('mul W0 by 4', () => tf.mul(w0, 4), 50);
const ds = tf.randomNormal([512, 50]); const x50 = tf.randomUniform([50, 784]);
time('dsT·x [512,50]x[50,784]', () => tf.matMul(ds, x50));
const dsN = tf.randomNormal([50, 512]); const xT50 = tf.randomUniform([784, 50]);
time('xT·ds [784,50]x[50,512]', () => tf.matMul(xT50, dsN));
