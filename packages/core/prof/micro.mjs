import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function time(name, f, n = 2000) {
  for (let i = 0; i < 50; i++) tf.dispose(tf.tidy(f));
  const t0 = performance.now();
  for (let i = 0; i < n; i++) tf.dispose(tf.tidy(f));
  const dt = (performance.now() - t0) / n * 1000;
  console.log(name.padEnd(40), dt.toFixed(1), 'µs');
}
const a = tf.randomNormal([50, 512]), b = tf.randomNormal([50, 512]);
const w1 = tf.randomNormal([512, 10]), w1t = tf.randomNormal([10, 512]);
const s2 = tf.randomNormal([50, 10]);
const x = tf.randomNormal([50, 784]), w0 = tf.randomNormal([784, 512]);
const bias = tf.randomNormal([512]);
time('add 50x512', () => tf.add(a, b));
time('sigmoid 50x512', () => tf.sigmoid(a));
time('add+sigmoid', () => tf.sigmoid(tf.add(a, b)));
time('matMul 50x10x512', () => tf.matMul(s2, w1t));
time('matMul 50x512x10', () => tf.matMul(a, w1));
time('fused matMul+bias+sigmoid 50x10x512', () => tf.fused.matMul({a: s2, b: w1t, bias, activation: 'sigmoid'}));
time('matMul 50x784x512', () => tf.matMul(x, w0), 200);
time('tidy empty', () => {});
time('add scalar small 50x10', () => tf.add(s2, 1));
const big = tf.randomNormal([784, 512]);
time('mul 784x512 scalar', () => tf.mul(big, 0.9), 500);
time('add 784x512', () => tf.add(big, big), 500);
time('sqrt 784x512', () => tf.sqrt(big), 500);
time('div 784x512', () => tf.div(big, big), 500);
