import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
await tf.setBackend('wasm'); await tf.ready();
function bench(name, f, n=50) { for (let i=0;i<3;i++) tf.tidy(()=>f().dataSync()); const t=performance.now(); for (let i=0;i<n;i++) tf.tidy(()=>{const r=f(); r.dataSync();}); const ms=(performance.now()-t)/n; console.log(name, ms.toFixed(3),'ms'); return ms;}
for (const B of [20, 100]) {
const s1 = tf.randomUniform([B,12,12,32]);
const K = tf.randomNormal([5,5,32,64]);
const c = tf.conv2d(s1, K, 1, 'valid'); const p = tf.maxPool(c,2,2,'valid');
const s2 = tf.randomUniform([B,4,4,64]);
const flops = B*8*8*64*800*2;
const t1 = bench(`B${B} conv2 fwd`, () => tf.conv2d(s1, K, 1, 'valid'));
console.log('  GFLOP/s', (flops/t1/1e6).toFixed(1));
bench(`B${B} maxpool`, () => tf.maxPool(c,2,2,'valid'));
bench(`B${B} maxPoolGrad`, () => tf.engine().runKernel('MaxPoolGrad', {dy: s2, input: c, output: p}, {filterSize: 2, strides: 2, pad: 'valid'}));
const g = tf.engine().runKernel('MaxPoolGrad', {dy: s2, input: c, output: p}, {filterSize: 2, strides: 2, pad: 'valid'});
const t2 = bench(`B${B} convT`, () => tf.conv2dTranspose(g, K, [B,12,12,32], 1, 'valid'));
console.log('  GFLOP/s', (flops/t2/1e6).toFixed(1));
// kernel grad via transposed conv
const kg = () => { const xt = tf.transpose(s1,[3,1,2,0]); const dyt = tf.transpose(g,[1,2,0,3]); return tf.transpose(tf.conv2d(xt, dyt, 1, 'valid'), [1,2,0,3]); };
const t3 = bench(`B${B} kgrad transposed conv`, kg, 10);
console.log('  GFLOP/s', (flops/t3/1e6).toFixed(1));
// im2col
const kg2 = () => { const cols=[]; for (let i=0;i<5;i++) for (let j=0;j<5;j++) cols.push(tf.slice(s1,[0,i,j,0],[B,8,8,32])); const P = tf.concat(cols,3).reshape([B*64, 800]); return tf.matMul(tf.transpose(P), g.reshape([B*64,64])).reshape([5,5,32,64]); };
const t4 = bench(`B${B} kgrad im2col`, kg2, 10);
console.log('  GFLOP/s', (flops/t4/1e6).toFixed(1));
console.log('  maxdiff', tf.max(tf.abs(tf.sub(kg(), kg2()))).dataSync()[0]);
// conv1 (static)
const x = tf.randomUniform([B,28,28,1]); const K1 = tf.randomNormal([5,5,1,32]);
bench(`B${B} conv1 fwd`, () => tf.conv2d(x, K1, 1, 'valid'));
}
