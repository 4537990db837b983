import { Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hardSigmoid } from './activations.js';
import { checkTerm } from './check-term.js';
import { MseCost } from './costs.js';
import { EnergyNetwork } from './network.js';
import { ResidualCoupling } from './residual-coupling.js';
import { TermCache } from './term.js';
import { relError } from './test-utils.js';

// The skip coupling's fields are a strided slice, a matmul and a zero-filled upsample; its energy
// is the paper's 1×1 convolution of stride s. checkTerm holds the closed forms to tf.grad of that
// energy (on cpu: tf.grad of a kernel needs Conv2DBackpropFilter, which wasm lacks); the fields
// then run on wasm and must give the same values.
beforeAll(async () => {
  await setupBackend('cpu');
});
afterAll(async () => {
  await setupBackend('wasm');
});

const variable = (rng: Rng, shape: number[]) =>
  tf.variable(
    tf.tensor(
      rng.uniformArray(
        shape.reduce((a, b) => a * b, 1),
        -0.5,
        0.5,
      ),
      shape,
    ),
  );

interface Case {
  title: string;
  lower: number;
  upper: number;
  /** [H, W, in] of the lower layer */
  from: number[];
  out: number;
  stride: number;
  /** the upper layer's shape the coupling must find */
  expected: number[];
}

const CASES: Case[] = [
  { title: 'free lower layer, stride 2 (the ResNet block: layer i to i + 2)', lower: 1, upper: 3, from: [8, 8, 3], out: 5, stride: 2, expected: [4, 4, 5] },
  { title: 'odd sides, stride 2: ⌈7/2⌉ × ⌈5/2⌉', lower: 1, upper: 3, from: [7, 5, 2], out: 3, stride: 2, expected: [4, 3, 3] },
  { title: 'stride 3 on a side it does not divide', lower: 1, upper: 3, from: [8, 7, 2], out: 2, stride: 3, expected: [3, 3, 2] },
  { title: 'stride 1: a per-position channel mixing', lower: 1, upper: 3, from: [5, 5, 4], out: 4, stride: 1, expected: [5, 5, 4] },
  { title: 'clamped input below (layer 0 to 2): static upper field', lower: 0, upper: 2, from: [6, 6, 3], out: 4, stride: 2, expected: [3, 3, 4] },
];

/** Layer shapes [input, 1, 2, 3] around a case's two layers (the others are bystanders). */
function shapesOf(c: Case): number[][] {
  const shapes = [[4, 4, 1], [2], [2], [2]];
  shapes[c.lower] = c.from;
  shapes[c.upper] = c.expected;
  return shapes;
}

describe('residual coupling: closed forms equal tf.grad of the 1×1 strided convolution', () => {
  CASES.forEach((c, i) => {
    it(c.title, () => {
      const term = new ResidualCoupling(c.lower, c.upper, variable(new Rng(30 + i), [1, 1, c.from[2], c.out]), { inputShape: c.from, stride: c.stride });
      expect(term.outputShape).toEqual(c.expected);
      expect(term.isStaticFor(c.upper)).toBe(c.lower === 0);
      const report = checkTerm(term, shapesOf(c), { seed: 2 + i });
      expect(report.ok, report.failures.map((f) => `${f.part}: ${f.detail}`).join('; ')).toBe(true);
      // the field on the lower layer was checked, not skipped, where it is free
      expect(report.results.some((r) => r.part.includes(`layer ${c.lower}`))).toBe(c.lower !== 0);
      term.kernel.dispose();
    });
  });

  it('its energy is the 1×1 convolution of stride 2 and padding 0 (the paper’s skip), and the upper field that convolution', () => {
    const rng = new Rng(41);
    const term = new ResidualCoupling(1, 2, variable(rng, [1, 1, 3, 2]), { inputShape: [5, 5, 3], stride: 2 });
    tf.tidy(() => {
      const a = tf.tensor(rng.uniformArray(2 * 75, 0, 1), [2, 5, 5, 3]);
      const u = tf.tensor(rng.uniformArray(2 * 18, 0, 1), [2, 3, 3, 2]);
      // written out position by position: c[y, x, o] = Σ_i a[2y, 2x, i] K[i, o]
      const a4 = a.arraySync() as number[][][][];
      const K = (term.kernel.arraySync() as number[][][][])[0][0];
      const u4 = u.arraySync() as number[][][][];
      const energy = a4.map((_, b) => {
        let phi = 0;
        for (let y = 0; y < 3; y++)
          for (let x = 0; x < 3; x++) for (let o = 0; o < 2; o++) for (let ch = 0; ch < 3; ch++) phi += u4[b][y][x][o] * a4[b][2 * y][2 * x][ch] * K[ch][o];
        return -phi;
      });
      const acts = [tf.zeros([2, 1]), a, u];
      expect(relError(term.energy(acts), tf.tensor(energy))).toBeLessThan(1e-5);
      expect(relError(term.field(acts, 2, new TermCache()), tf.conv2d(a as tf.Tensor4D, term.kernel as tf.Tensor4D, 2, 'valid'))).toBeLessThan(1e-5);
    });
    term.kernel.dispose();
  });
});

describe('residual coupling on wasm', () => {
  it('fields, gradients and the EP difference equal the cpu values, and leave no tensor behind', async () => {
    const rng = new Rng(51);
    const c = CASES[1];
    const kernel = rng.uniformArray(c.from[2] * c.out, -0.5, 0.5);
    const [low, up, low2, up2] = [c.from, c.expected, c.from, c.expected].map((s) => rng.uniformArray(3 * s.reduce((a, b) => a * b, 1), 0, 1));
    const run = () => {
      const term = new ResidualCoupling(1, 3, tf.variable(tf.tensor(kernel, [1, 1, c.from[2], c.out])), { inputShape: c.from, stride: 2 });
      const before = tf.memory().numTensors;
      const cache = new TermCache();
      const out = tf.tidy(() => {
        const a = [tf.zeros([3, 1]), tf.tensor(low, [3, ...c.from]), tf.zeros([3, 2]), tf.tensor(up, [3, ...c.expected])];
        const b = [a[0], tf.tensor(low2, [3, ...c.from]), a[2], tf.tensor(up2, [3, ...c.expected])];
        const parts = [
          term.energy(a),
          term.field(a, 3, cache),
          term.field(a, 1, cache),
          term.paramGrads(a)[term.name],
          term.paramGradsDiff(a, b, 2.5)[term.name],
        ];
        return parts.map((t) => Array.from(t.dataSync()));
      });
      cache.dispose();
      const leaked = tf.memory().numTensors - before;
      term.kernel.dispose();
      return { out, leaked };
    };
    await setupBackend('wasm');
    const wasm = run();
    await setupBackend('cpu');
    const cpu = run();
    expect(wasm.leaked).toBe(0);
    wasm.out.forEach((v, i) => {
      const scale = Math.max(...cpu.out[i].map(Math.abs));
      expect(Math.max(...v.map((x, j) => Math.abs(x - cpu.out[i][j]))) / scale, `part ${i}`).toBeLessThan(1e-5);
    });
  });
});

describe('bad shapes are one-line ShapeErrors', () => {
  const v = (shape: number[]) => tf.variable(tf.zeros(shape));
  it('a kernel that is not 1×1, channels that do not match, a bad stride', () => {
    expect(() => new ResidualCoupling(0, 2, v([3, 3, 1, 2]), { inputShape: [8, 8, 1], stride: 2 })).toThrow(
      /S0_2: a skip kernel must have shape \[1, 1, in, out\], got \[3,3,1,2\]/,
    );
    expect(() => new ResidualCoupling(0, 2, v([1, 1, 2, 4]), { inputShape: [8, 8, 3] })).toThrow(
      /S0_2: kernel takes 2 input channels, but the lower layer \[8,8,3\] has 3/,
    );
    expect(() => new ResidualCoupling(0, 2, v([1, 1, 3, 4]), { inputShape: [8, 8, 3], stride: 0 })).toThrow(/S0_2: stride must be a positive integer, got 0/);
    expect(() => new ResidualCoupling(0, 2, v([1, 1, 3, 4]), { inputShape: [8, 8] })).toThrow(ShapeError);
  });

  it('a network whose layer does not have the shape the skip makes', () => {
    const skip = new ResidualCoupling(0, 2, v([1, 1, 1, 2]), { inputShape: [4, 4, 1], stride: 2 });
    const build = (upper: number[]) =>
      new EnergyNetwork({
        inputShape: [4, 4, 1],
        layerShapes: [[3], upper],
        activations: [hardSigmoid, hardSigmoid],
        terms: [skip],
        cost: new MseCost(),
        form: 'primitive',
      });
    expect(() => build([4, 4, 2])).toThrow(
      /term S0_2: skip kernel of shape \[1,1,1,2\] with stride 2 makes layer 2 of shape \[2,2,2\], but it has shape \[4,4,2\]/,
    );
    expect(build([2, 2, 2]).layerShapes).toEqual([[3], [2, 2, 2]]);
  });
});
