import { type Grads, type Params, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { hardSigmoid } from './activations.js';
import { Bias } from './bias.js';
import { checkTerm, TermCheckError } from './check-term.js';
import { ConvCoupling } from './conv-coupling.js';
import { MseCost } from './costs.js';
import { DenseCoupling } from './dense-coupling.js';
import { EnergyNetwork } from './network.js';
import type { Term } from './term.js';

// tf.grad is the reference; the cpu backend has every gradient kernel (wasm lacks the conv kernel's)
beforeAll(async () => {
  await setupBackend('cpu');
});

const variable = (shape: number[], seed: number) => tf.variable(tf.randomNormal(shape, 0, 0.5, 'float32', seed));

type Flaw = 'none' | 'unsymmetrised field' | 'gradient sign' | 'leak' | 'narrow field' | 'claims static' | 'diff scale';

/**
 * A lateral coupling inside layer k, E = −½ Σ_batch a_kᵀ L a_k, written as a user would, with one
 * optional flaw each test plants. Field −∂E/∂a = ½(L + Lᵀ)a; ∂E/∂L = −½ mean_batch a aᵀ.
 */
class Lateral implements Term {
  readonly layers: number[];
  readonly params: Params;
  constructor(
    readonly layer: number,
    readonly weight: tf.Variable,
    readonly flaw: Flaw = 'none',
    readonly name = `lateral${layer}`,
  ) {
    this.layers = [layer];
    this.params = { [`L${layer}`]: weight };
  }
  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    const a = acts[this.layer] as tf.Tensor2D;
    return tf.tidy(() => tf.mul(-0.5, tf.sum(tf.mul(tf.matMul(a, this.weight as tf.Tensor2D), a), 1)));
  }
  field(acts: readonly tf.Tensor[]): tf.Tensor {
    const a = acts[this.layer] as tf.Tensor2D;
    if (this.flaw === 'leak') tf.transpose(this.weight); // an intermediate outside tf.tidy
    return tf.tidy(() => {
      if (this.flaw === 'unsymmetrised field') return tf.matMul(a, this.weight as tf.Tensor2D);
      if (this.flaw === 'narrow field') return tf.sum(tf.matMul(a, this.weight as tf.Tensor2D), 1, true);
      const sym = tf.mul(0.5, tf.add(this.weight, tf.transpose(this.weight))) as tf.Tensor2D;
      return tf.matMul(a, sym);
    });
  }
  isStaticFor(): boolean {
    return this.flaw === 'claims static';
  }
  paramGrads(acts: readonly tf.Tensor[]): Grads {
    const a = acts[this.layer] as tf.Tensor2D;
    const sign = this.flaw === 'gradient sign' ? 0.5 : -0.5;
    return { [`L${this.layer}`]: tf.tidy(() => tf.mul(tf.matMul(a, a, true, false), sign / a.shape[0])) };
  }
  paramGradsDiff(a: readonly tf.Tensor[], b: readonly tf.Tensor[], scale: number): Grads {
    const [ga, gb] = [this.paramGrads(a), this.paramGrads(b)];
    const name = `L${this.layer}`;
    const s = this.flaw === 'diff scale' ? 2 * scale : scale;
    const out = tf.tidy(() => tf.mul(tf.sub(ga[name], gb[name]), s));
    tf.dispose([ga[name], gb[name]]);
    return { [name]: out };
  }
}

const shapes = [[4], [5], [3]];

describe('checkTerm: a term against tf.grad, its shapes and its tensor count', () => {
  it("passes eqprop's own terms (dense, from the input and between free layers; bias; pooled convolution) and restores their parameters", () => {
    const dense = new DenseCoupling(1, 2, variable([5, 3], 1));
    const input = new DenseCoupling(0, 1, variable([4, 5], 2));
    const bias = new Bias(2, variable([3], 3));
    const conv = new ConvCoupling(1, 2, variable([3, 3, 2, 3], 4), { inputShape: [6, 6, 2], pool: { kind: 'max', size: 2 } });
    const before = dense.weight.dataSync().slice();
    for (const [term, layers] of [
      [dense, shapes],
      [input, shapes],
      [bias, shapes],
      [conv, [[1], [6, 6, 2], [2, 2, 3]]],
    ] as const) {
      const report = checkTerm(term, layers);
      expect(report.ok).toBe(true);
      expect(report.failures).toEqual([]);
      // the field (and, where the term has one, its paramGradsDiff) and every parameter were compared
      expect(report.results.some((r) => r.part.startsWith('field on layer'))).toBe(true);
      expect(report.results.some((r) => r.part.startsWith(`gradient of ${Object.keys(term.params)[0]}`))).toBe(true);
    }
    expect(checkTerm(input, shapes).results.map((r) => r.part)).toContain('field on layer 1 (static by isStaticFor) with other free activities');
    expect(checkTerm(dense, shapes).results.map((r) => r.part)).toContain('paramGradsDiff of W1_2 against 1.3·(paramGrads(a) − paramGrads(b))');
    // random parameters during the check, the user's values after it
    expect(dense.weight.dataSync()).toEqual(before);
  });

  it('passes a correct user term and takes the shapes from a network', () => {
    const net = new EnergyNetwork({
      inputShape: [4],
      layerShapes: [[5], [3]],
      activations: [hardSigmoid, hardSigmoid],
      terms: [new DenseCoupling(0, 1, variable([4, 5], 5))],
      cost: new MseCost(),
      form: 'hopfield',
    });
    const report = checkTerm(new Lateral(1, tf.variable(tf.zeros([5, 5]))), net);
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => r.part)).toEqual([
      'shapes',
      'field on layer 1 against −∂E/∂a_1 (tf.grad)',
      'gradient of L1 against ∂(mean E)/∂L1 (tf.grad)',
      'paramGradsDiff of L1 against 1.3·(paramGrads(a) − paramGrads(b))',
      'tensor count',
    ]);
  });

  const cases: [Flaw, RegExp][] = [
    ['unsymmetrised field', /^term lateral1 fails checkTerm: field on layer 1 against −∂E\/∂a_1 \(tf\.grad\): relative error \S+ \(tolerance 0\.0001\)$/],
    ['gradient sign', /^term lateral1 fails checkTerm: gradient of L1 against ∂\(mean E\)\/∂L1 \(tf\.grad\): relative error 2\.00e\+0/],
    ['leak', /^term lateral1 fails checkTerm: field on layer 1 against −∂E\/∂a_1 \(tf\.grad\): tensor leaks: leaves 1 tensor\(s\) behind besides its result/],
    [
      'narrow field',
      /^term lateral1 fails checkTerm: shapes: it sends a field of shape \[2, 1\] to layer 1 of shape \[5\]: expected \[2, 5\] for a batch of 2$/,
    ],
    ['claims static', /^term lateral1 fails checkTerm: field on layer 1 \(static by isStaticFor\) with other free activities: relative error/],
    ['diff scale', /^term lateral1 fails checkTerm: paramGradsDiff of L1 against 1\.3·\(paramGrads\(a\) − paramGrads\(b\)\): relative error 1\.00e\+0/],
  ];
  for (const [flaw, message] of cases) {
    it(`rejects a term with a flaw: ${flaw}`, () => {
      const term = new Lateral(1, tf.variable(tf.zeros([5, 5])), flaw);
      const before = tf.memory().numTensors;
      expect(() => checkTerm(term, shapes)).toThrow(TermCheckError);
      expect(() => checkTerm(term, shapes)).toThrow(message);
      const report = checkTerm(term, shapes, { throwOnFailure: false });
      expect(report.ok).toBe(false);
      if (flaw !== 'leak') expect(tf.memory().numTensors).toBe(before); // the check itself keeps nothing
    });
  }

  it('counts the tensors a whole check leaves: a leaking term is also named by the total', () => {
    const report = checkTerm(new Lateral(1, tf.variable(tf.zeros([5, 5])), 'leak'), shapes, { throwOnFailure: false });
    expect(report.failures.map((f) => f.part)).toContain('tensor count');
  });
});

describe('EnergyNetwork: a term that does not fit its layers is a ShapeError naming the term, the layer and both shapes', () => {
  const build = (terms: Term[], layerShapes = [[5], [3]]) =>
    new EnergyNetwork({ inputShape: [4], layerShapes, activations: layerShapes.map(() => hardSigmoid), terms, cost: new MseCost(), form: 'hopfield' });

  it("eqprop's terms say what does not fit, with no tensor work", () => {
    expect(() => build([new DenseCoupling(0, 1, variable([6, 5], 1))])).toThrow(ShapeError);
    expect(() => build([new DenseCoupling(0, 1, variable([6, 5], 1))])).toThrow(
      /^term W0_1: weight of shape \[6,5\] needs 6 units on layer 0, which has shape \[4\]$/,
    );
    expect(() => build([new DenseCoupling(1, 2, variable([5, 4], 1))])).toThrow(
      /^term W1_2: weight of shape \[5,4\] needs layer 2 of shape \[4\], which has shape \[3\]$/,
    );
    expect(() => build([new Bias(2, variable([5], 1))])).toThrow(
      /^term b2: bias of shape \[5\], made for a layer of shape \[5\], does not fit layer 2 of shape \[3\]$/,
    );
    const conv = new ConvCoupling(1, 2, variable([3, 3, 2, 3], 4), { inputShape: [6, 6, 2], pool: { kind: 'max', size: 2 } });
    expect(() =>
      build(
        [conv],
        [
          [6, 6, 2],
          [3, 3, 3],
        ],
      ),
    ).toThrow(/^term K1_2: kernel of shape \[3,3,2,3\] makes layer 2 of shape \[2,2,3\], but it has shape \[3,3,3\]$/);
    expect(() =>
      build(
        [conv],
        [
          [7, 7, 2],
          [2, 2, 3],
        ],
      ),
    ).toThrow(/^term K1_2: kernel of shape \[3,3,2,3\] was made for a lower layer of shape \[6,6,2\], but layer 1 has shape \[7,7,2\]$/);
    expect(() =>
      build(
        [conv],
        [
          [6, 6, 2],
          [2, 2, 3],
        ],
      ),
    ).not.toThrow();
  });

  it("a user's term is probed once: a parameter of the wrong size (a tfjs matMul error) and a field that would broadcast", () => {
    const [wrong, right] = [tf.variable(tf.zeros([4, 4])), tf.variable(tf.zeros([5, 5]))];
    const before = tf.memory().numTensors;
    expect(() => build([new Lateral(1, wrong)])).toThrow(ShapeError);
    expect(() => build([new Lateral(1, wrong)])).toThrow(/^term lateral1: it fails on layer 1 \[5\] with parameters L1 \[4, 4\]: .*matMul/);
    // [batch, 1] would broadcast over the layer's 5 units in the relaxation, silently
    expect(() => build([new Lateral(1, right, 'narrow field')])).toThrow(
      /^term lateral1: it sends a field of shape \[2, 1\] to layer 1 of shape \[5\]: expected \[2, 5\] for a batch of 2$/,
    );
    expect(build([new Lateral(1, right)]).params.L1).toBe(right);
    expect(tf.memory().numTensors).toBe(before); // the probe keeps nothing, failing or not
  });

  it('gives every parameter a learning-rate group: the highest layer its term touches, L + 1 for the cost; or those given', () => {
    const rng = new Rng(1);
    const W = (r: number, c: number) => tf.variable(tf.tensor2d(rng.uniformArray(r * c, -1, 1), [r, c]));
    const terms = [new DenseCoupling(0, 1, W(4, 5)), new DenseCoupling(1, 2, W(5, 3)), new Lateral(1, W(5, 5)), new DenseCoupling(0, 2, W(4, 3), 'S0_2')];
    expect(build(terms).groups).toEqual({ W0_1: 1, W1_2: 2, L1: 1, S0_2: 2 });
    const spec = { inputShape: [4], layerShapes: [[5], [3]], activations: [hardSigmoid, hardSigmoid], terms, cost: new MseCost(), form: 'hopfield' as const };
    expect(new EnergyNetwork({ ...spec, groups: { W0_1: 1, W1_2: 2 } }).groups).toEqual({ W0_1: 1, W1_2: 2 });
    expect(() => new EnergyNetwork({ ...spec, groups: { W9: 1 } })).toThrow(/^groups names "W9", which is not a parameter of the network$/);
    expect(() => new EnergyNetwork({ ...spec, groups: { W0_1: 4 } })).toThrow(/^group of W0_1 must be an integer in 1 … 3, got 4$/);
  });
});
