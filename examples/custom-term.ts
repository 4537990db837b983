/**
 * A user-written energy term, checked and put to work with public APIs only: a lateral coupling
 * inside a hidden layer, E = −½ Σ ρ(s_k)ᵀ L ρ(s_k). `checkTerm` tests it as eqprop's own terms are
 * tested (field and ∂E/∂L against tf.grad of its energy, shapes, tensor leaks); `withTerms` adds
 * it to a built MLP; the trainer gets the new parameter's learning rate by name.
 *
 *   pnpm --filter @eqprop/examples test     (runs this file through custom-term.test.ts)
 */
import { type Grads, type Params, Rng, setupBackend, tf } from '@eqprop/core';
import { batches, subset, synthetic } from '@eqprop/datasets';
import { checkTerm, type Term } from '@eqprop/energies';
import { Trainer } from '@eqprop/learning';
import { buildModel, withTerms } from '@eqprop/models';

/**
 * E = −½ Σ_batch aᵀ L a on layer k (a = ρ(s_k)). Its field −∂E/∂a = ½(L + Lᵀ)a (L need not be
 * symmetric: only its symmetric part acts), its gradient ∂E/∂L = −½ mean_batch a aᵀ.
 */
export class LateralCoupling implements Term {
  readonly layers: number[];
  readonly params: Params;
  constructor(
    readonly layer: number,
    readonly weight: tf.Variable,
    readonly name = `L${layer}`,
  ) {
    this.layers = [layer];
    this.params = { [name]: weight };
  }

  energy(acts: readonly tf.Tensor[]): tf.Tensor {
    const a = acts[this.layer] as tf.Tensor2D;
    return tf.tidy(() => tf.mul(-0.5, tf.sum(tf.mul(tf.matMul(a, this.weight as tf.Tensor2D), a), 1)));
  }

  field(acts: readonly tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => tf.matMul(acts[this.layer] as tf.Tensor2D, this.symmetricPart()));
  }

  /** The field on layer k moves with the layer itself: never static. */
  isStaticFor(): boolean {
    return false;
  }

  paramGrads(acts: readonly tf.Tensor[]): Grads {
    const a = acts[this.layer] as tf.Tensor2D;
    return { [this.name]: tf.tidy(() => tf.mul(tf.matMul(a, a, true, false), -0.5 / a.shape[0])) };
  }

  protected symmetricPart(): tf.Tensor2D {
    return tf.mul(0.5, tf.add(this.weight, tf.transpose(this.weight))) as tf.Tensor2D;
  }
}

/** Trains an MLP with a lateral coupling in its hidden layer on a synthetic set; test errors before and after. */
export async function trainWithLateral(opts: { epochs?: number; seed?: number } = {}) {
  await setupBackend('wasm');
  const seed = opts.seed ?? 1;
  const all = synthetic({ count: 600, inputSize: 20, numClasses: 4, seed });
  const train = subset(all, 400);
  const test = { ...all, images: all.images.subarray(400 * 20), labels: all.labels.subarray(400), count: 200 };
  const mlp = buildModel({ kind: 'mlp', sizes: [20, 24, 4], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse' }, new Rng(seed));
  const lateral = new LateralCoupling(1, tf.variable(tf.zeros([24, 24])));
  checkTerm(lateral, mlp); // throws a TermCheckError naming the failing part; here it passes
  const net = withTerms(mlp, [lateral]);
  const trainer = new Trainer(
    net,
    {
      solver: { kind: 'gradient-descent', stepSize: 0.5 },
      freeSteps: 20,
      nudgedSteps: 4,
      estimator: 'symmetric',
      beta: 0.5,
      // one rate per layer; L1 is in no layer's group (withTerms keeps the model's groups): its own rate
      optimizer: { kind: 'adam', lrs: [0.01, 0.005], lrByParam: { L1: 0.002 } },
      persistent: false,
    },
    { seed },
  );
  const evaluate = () => trainer.evaluate(batches(test, 100, { shuffle: false, flatten: true })).error;
  const before = evaluate();
  for (let epoch = 0; epoch < (opts.epochs ?? 3); epoch++) {
    for (const batch of batches(train, 20, { rng: new Rng([seed, epoch, 3, 1]), flatten: true })) {
      trainer.trainBatch(batch);
      batch.x.dispose();
      batch.y.dispose();
    }
  }
  const after = evaluate();
  const lateralNorm = tf.tidy(() => tf.norm(lateral.weight).dataSync()[0]);
  trainer.dispose();
  return { before, after, lateralNorm, params: Object.keys(net.params) };
}
