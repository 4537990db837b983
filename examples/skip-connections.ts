/**
 * A new architecture from public APIs only: a layered Hopfield network with skip couplings.
 * Besides the dense coupling between consecutive layers k−1 and k, every layer k ≥ 2 is also
 * coupled to layer k−2 (the input included), so E gains −Σ ρ(s_{k−2})ᵀ S ρ(s_k). Solvers,
 * estimators and the trainer need no change: they only see an EnergyNetwork made of terms.
 *
 *   pnpm --filter @eqprop/examples test     (runs this file through skip-connections.test.ts)
 */
import { ConfigError, Rng, setupBackend } from '@eqprop/core';
import { batches, subset, synthetic } from '@eqprop/datasets';
import { activationByName, Bias, DenseCoupling, EnergyNetwork, MseCost, type Term } from '@eqprop/energies';
import { Trainer, type TrainerConfig } from '@eqprop/learning';
import { buildModel, initBias, initWeight, type ModelConfig, registerArchitecture } from '@eqprop/models';

/** Sizes [input, hidden…, output]; the CLI and buildModel find it under kind "skip-mlp". */
export interface SkipMlpConfig extends ModelConfig {
  kind: 'skip-mlp';
  sizes: number[];
}

export function skipMlp(config: ModelConfig, rng: Rng): EnergyNetwork {
  const sizes = config.sizes as number[];
  if (!Array.isArray(sizes) || sizes.length < 3 || !sizes.every((n) => Number.isInteger(n) && n > 0)) {
    throw new ConfigError(`skip-mlp needs sizes [input, hidden…, output] with at least one hidden layer, got ${JSON.stringify(sizes)}`);
  }
  const terms: Term[] = [];
  for (let k = 1; k < sizes.length; k++) {
    const [nIn, n] = [sizes[k - 1], sizes[k]];
    terms.push(new DenseCoupling(k - 1, k, initWeight([nIn, n], nIn, n, 'glorot', rng)));
    terms.push(new Bias(k, initBias([n], nIn, 'glorot', rng)));
    if (k >= 2) {
      // the skip coupling, named S<from>_<to> so that it cannot clash with W<k-1>_<k>
      const m = sizes[k - 2];
      terms.push(new DenseCoupling(k - 2, k, initWeight([m, n], m, n, 'glorot', rng), `S${k - 2}_${k}`));
    }
  }
  return new EnergyNetwork({
    inputShape: [sizes[0]],
    layerShapes: sizes.slice(1).map((n) => [n]),
    activations: sizes.slice(1).map(() => activationByName('hard-sigmoid')),
    terms,
    cost: new MseCost(),
    form: 'hopfield',
  });
}

registerArchitecture('skip-mlp', skipMlp);

/** Trains a skip network on a synthetic set for a few epochs; returns test errors before and after. */
export async function trainSkipMlp(opts: { epochs?: number; seed?: number } = {}) {
  await setupBackend('wasm');
  const seed = opts.seed ?? 1;
  // one synthetic set (one seed, the same class prototypes): 400 examples to train, 200 to test
  const all = synthetic({ count: 600, inputSize: 20, numClasses: 4, seed });
  const train = subset(all, 400);
  const test = { ...all, images: all.images.subarray(400 * 20), labels: all.labels.subarray(400), count: 200 };
  const net = buildModel({ kind: 'skip-mlp', sizes: [20, 24, 16, 4] } satisfies SkipMlpConfig, new Rng(seed));
  const config: TrainerConfig = {
    solver: { kind: 'gradient-descent', stepSize: 0.5 },
    freeSteps: 20,
    nudgedSteps: 4,
    estimator: 'symmetric',
    beta: 0.5,
    optimizer: { kind: 'adam', lrs: [0.01] },
    persistent: false,
  };
  const trainer = new Trainer(net, config, { seed, trainCount: train.count });
  const evaluate = () => trainer.evaluate(batches(test, 100, { shuffle: false, flatten: true })).error;
  const before = evaluate();
  let batchCount = 0;
  for (let epoch = 0; epoch < (opts.epochs ?? 3); epoch++) {
    for (const batch of batches(train, 20, { rng: new Rng([seed, epoch, 7, 1]), flatten: true })) {
      trainer.trainBatch(batch);
      batch.x.dispose();
      batch.y.dispose();
      batchCount++;
    }
  }
  const after = evaluate();
  const params = Object.keys(net.params);
  trainer.dispose();
  return { before, after, batches: batchCount, params };
}
