import { ConfigError, Rng, ShapeError, setupBackend, tf } from '@eqprop/core';
import { checkTerm, TermCheckError } from '@eqprop/energies';
import { Trainer } from '@eqprop/learning';
import { buildModel, withTerms } from '@eqprop/models';
import { beforeAll, describe, expect, it } from 'vitest';
import { LateralCoupling, trainWithLateral } from './custom-term.js';

/** The mistake a user makes first: the field L·a, as if L were symmetric. */
class UnsymmetrisedLateral extends LateralCoupling {
  protected override symmetricPart(): tf.Tensor2D {
    return this.weight.clone() as tf.Tensor2D;
  }
}

const mlp = () => buildModel({ kind: 'mlp', sizes: [6, 5, 3], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(1));

describe('example: a user-written term, checked by checkTerm', () => {
  beforeAll(() => setupBackend('wasm'));

  it('checkTerm passes the lateral coupling: its field and ∂E/∂L equal tf.grad, no tensor leaks', () => {
    const report = checkTerm(new LateralCoupling(1, tf.variable(tf.zeros([5, 5]))), mlp());
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => r.part)).toEqual([
      'shapes',
      'field on layer 1 against −∂E/∂a_1 (tf.grad)',
      'gradient of L1 against ∂(mean E)/∂L1 (tf.grad)',
      'tensor count',
    ]);
  });

  it('checkTerm rejects the broken variant (an unsymmetrised field), naming the term and the part', () => {
    const broken = new UnsymmetrisedLateral(1, tf.variable(tf.zeros([5, 5])));
    expect(() => checkTerm(broken, mlp())).toThrow(TermCheckError);
    expect(() => checkTerm(broken, mlp())).toThrow(
      /^term L1 fails checkTerm: field on layer 1 against −∂E\/∂a_1 \(tf\.grad\): relative error \S+ \(tolerance 0\.0001\)$/,
    );
  });

  it('a lateral matrix of the wrong size is a ShapeError naming the term, and a parameter in no group needs its rate', () => {
    expect(() => withTerms(mlp(), [new LateralCoupling(1, tf.variable(tf.zeros([6, 6])))])).toThrow(ShapeError);
    expect(() => withTerms(mlp(), [new LateralCoupling(1, tf.variable(tf.zeros([6, 6])))])).toThrow(
      /^term L1: it fails on layer 1 \[5\] with parameters L1 \[6, 6\]/,
    );
    const net = withTerms(mlp(), [new LateralCoupling(1, tf.variable(tf.zeros([5, 5])))]);
    const config = {
      solver: { kind: 'gradient-descent' as const, stepSize: 0.5 },
      freeSteps: 5,
      nudgedSteps: 2,
      estimator: 'symmetric',
      beta: 0.5,
      optimizer: { kind: 'sgd' as const, lrs: [0.1, 0.05] },
      persistent: false,
    };
    expect(() => new Trainer(net, config, { seed: 1 })).toThrow(ConfigError);
    expect(() => new Trainer(net, config, { seed: 1 })).toThrow(/^parameter L1 is in no learning-rate group/);
  });

  it('trains with the lateral coupling: the test error falls and L1 learns', async () => {
    const r = await trainWithLateral({ epochs: 3 });
    expect(r.params).toEqual(['W0_1', 'b1', 'W1_2', 'b2', 'L1']);
    expect(r.before).toBeGreaterThan(0.5);
    expect(r.after).toBeLessThan(0.2);
    expect(r.lateralNorm).toBeGreaterThan(0.01); // from zero
  });
});
