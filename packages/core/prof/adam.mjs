import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
const n = 784 * 512;
const p = tf.variable(tf.randomNormal([784, 512]));
const g = tf.randomNormal([784, 512]);
const m = tf.variable(tf.zeros([784, 512])), v = tf.variable(tf.zeros([784, 512]));
function tfAdam() {
  tf.tidy(() => {
    m.assign(tf.add(tf.mul(m, 0.9), g));
    v.assign(tf.add(tf.mul(v, 0.999), tf.square(g)));
    p.assign(tf.sub(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v), 1e-8)), 1e-3)));
  });
}
const mJ = new Float32Array(n), vJ = new Float32Array(n);
function jsAdam() {
  const pv = p.dataSync(); const gv = g.dataSync();
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const gi = gv[i];
    const mi = (mJ[i] = mJ[i] * 0.9 + gi);
    const vi = (vJ[i] = vJ[i] * 0.999 + gi * gi);
    out[i] = pv[i] - (mi / (Math.sqrt(vi) + 1e-8)) * 1e-3;
  }
  const t = tf.tensor(out, [784, 512]);
  p.assign(t); t.dispose();
}
// in-place on the wasm heap via the backend
const backend = tf.backend();
function heapAdam() {
  const pv = backend.typedArrayFromHeap(p); const gv = backend.typedArrayFromHeap(g);
  const mv = backend.typedArrayFromHeap(m); const vv = backend.typedArrayFromHeap(v);
  for (let i = 0; i < n; i++) {
    const gi = gv[i];
    const mi = (mv[i] = mv[i] * 0.9 + gi);
    const vi = (vv[i] = vv[i] * 0.999 + gi * gi);
    pv[i] -= (mi / (Math.sqrt(vi) + 1e-8)) * 1e-3;
  }
}
for (const [name, f] of [['tf ops', tfAdam], ['js arrays', jsAdam], ['wasm heap in place', heapAdam]]) {
  for (let i = 0; i < 10; i++) f();
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) { f(); p.dataSync(); }
  console.log(name.padEnd(20), ((performance.now() - t0) / 50).toFixed(2), 'ms');
}
console.log(tf.memory().numTensors);
