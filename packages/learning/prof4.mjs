import { setupBackend, tf } from '@eqprop/core';
await setupBackend('wasm');
const n = 406528; const p = tf.variable(tf.randomUniform([n])), g = tf.randomUniform([n]), m = tf.variable(tf.zeros([n])), v = tf.variable(tf.zeros([n]));
function tfAdam(){ tf.tidy(()=>{ m.assign(tf.add(tf.mul(m,0.9), tf.mul(g,0.1))); v.assign(tf.add(tf.mul(v,0.999), tf.mul(tf.square(g),0.001))); p.assign(tf.sub(p, tf.mul(tf.div(m, tf.add(tf.sqrt(v),1e-8)), 1e-3))); }); }
const M = new Float32Array(n), V = new Float32Array(n);
function jsAdam(){ const G = g.dataSync(); const P = p.dataSync().slice(); for (let i=0;i<n;i++){ const gi=G[i]; const mi = M[i] = 0.9*M[i]+0.1*gi; const vi = V[i] = 0.999*V[i]+0.001*gi*gi; P[i] -= 1e-3*mi/(Math.sqrt(vi)+1e-8);} const t = tf.tensor(P,[n]); p.assign(t); t.dispose(); }
for (const [name,f] of [['tf',tfAdam],['js',jsAdam],['tf',tfAdam],['js',jsAdam]]) { for(let i=0;i<5;i++) f(); const t0=performance.now(); for(let i=0;i<50;i++) f(); console.log(name, ((performance.now()-t0)/50).toFixed(2),'ms'); }
