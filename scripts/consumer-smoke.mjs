// Runs inside a scratch project that installed the packed tarballs (see consumer-smoke.sh): only
// what a user of the published packages gets.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const _require = createRequire(join(process.cwd(), 'package.json'));
const names = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies ?? {}).sort();
const fail = (msg) => {
  console.error(`consumer smoke: ${msg}`);
  process.exit(1);
};
if (!names.includes('@eqprop/core') || !names.includes('eqprop')) fail(`expected @eqprop/* and eqprop among ${names}`);

// 1. every public API imports, exports something and ships its types
for (const name of [...names, '@eqprop/learning/parallel']) {
  const mod = await import(name);
  const exported = Object.keys(mod);
  if (exported.length === 0) fail(`${name} exports nothing`);
  console.log(`import ${name}: ${exported.length} exports`);
}
for (const name of names) {
  const dir = join('node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  for (const field of ['types', 'exports', 'files', 'repository', 'license']) if (!pkg[field]) fail(`${name} lacks "${field}"`);
  if (pkg.license !== 'MIT') fail(`${name} has licence ${pkg.license}`);
  if (!existsSync(join(dir, pkg.types))) fail(`${name}: ${pkg.types} is missing`);
}

// 2. a tiny network trained for a few batches through the public API
const { Rng, setupBackend, tf } = await import('@eqprop/core');
const { buildModel } = await import('@eqprop/models');
const { Trainer } = await import('@eqprop/learning');
const { batches, synthetic } = await import('@eqprop/datasets');
await setupBackend('wasm');
const data = synthetic({ count: 200, inputSize: 16, numClasses: 4, seed: 1 });
const net = buildModel({ kind: 'mlp', sizes: [16, 20, 4], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(1));
const trainer = new Trainer(
  net,
  {
    solver: { kind: 'gradient-descent', stepSize: 0.5 },
    freeSteps: 15,
    nudgedSteps: 4,
    estimator: 'symmetric',
    beta: 0.5,
    optimizer: { kind: 'adam', lrs: [0.01] },
    persistent: true,
  },
  { seed: 2, trainCount: data.count },
);
const tensors = tf.memory().numTensors;
const losses = [];
for (let epoch = 0; epoch < 4; epoch++) {
  for (const batch of batches(data, 20, { rng: new Rng([3, epoch, 0, 1]), flatten: true })) {
    losses.push(trainer.trainBatch(batch).loss);
    batch.x.dispose();
    batch.y.dispose();
  }
}
const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
const [first, last] = [mean(losses.slice(0, 10)), mean(losses.slice(-10))];
console.log(`trained ${losses.length} batches: loss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
if (!(last < first)) fail('training did not reduce the loss');
if (tf.memory().numTensors !== tensors) fail(`tensors leaked: ${tensors} -> ${tf.memory().numTensors}`);

// 3. the READMEs' runnable examples (```js blocks) run as written
for (const name of names) {
  const readme = readFileSync(join('node_modules', name, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  blocks.forEach((code, i) => {
    const file = `readme-${name.replace(/[@/]/g, '_')}-${i}.mjs`;
    writeFileSync(file, code);
    const out = execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 300_000 });
    console.log(`README of ${name}, example ${i + 1}: ok (${out.trim().split('\n').length} lines of output)`);
  });
}

// 4. the command line, with two data-parallel workers (the worker file must ship too)
const bin = join('node_modules', '.bin', 'eqprop');
const run = (...args) => execFileSync(bin, args, { encoding: 'utf8', timeout: 300_000 });
if (!run('presets').includes('scellier2017-1h')) fail('eqprop presets does not list scellier2017-1h');
const trained = run(
  'train',
  '--layers',
  '784,16,10',
  '--train-limit',
  '200',
  '--test-limit',
  '100',
  '--epochs',
  '1',
  '--workers',
  '2',
  '--quiet',
  '--out',
  'runs',
);
console.log(trained.trim().split('\n').slice(-1)[0]);
const dir = join('runs', readdirSync('runs')[0]);
console.log(run('eval', '--run', dir).trim());
console.log('consumer smoke: ok');
