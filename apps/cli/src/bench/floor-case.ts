import { Rng, tf } from '@eqprop/core';
import { getPreset } from '@eqprop/experiments';
import { Trainer } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { matmulRate } from './measure.js';
import type { BenchCase } from './suite.js';

/**
 * The part of a preset's training batch that no relaxation scheme removes: binding the batch (the
 * input's projection), the EP weight gradients from two states, and the optimizer step — the real
 * code paths, with no relaxation step at all. Its time × batches per epoch is a floor under the
 * seconds per epoch on this backend and machine (the test set's evaluation comes on top).
 */
export function floorCase(preset: string, batches = 200, warmup = 20): BenchCase {
  return {
    name: `floor/${preset}`,
    run: (ctx) => {
      const config = getPreset(preset);
      const net = buildModel(config.model as ModelConfig, new Rng(1));
      const trainer = new Trainer(net, { ...config.trainer, persistent: false, persistentEval: false }, { seed: 2 });
      const n = config.batchSize;
      const rng = new Rng(3);
      const inputSize = net.inputShape.reduce((a, b) => a * b, 1);
      const states = [0, 1].map(() => net.layerShapes.map((shape) => tf.randomUniform([n, ...shape], 0, 1, 'float32', rng.int(1 << 30))));
      const scale = 1 / (2 * config.trainer.beta);
      let total = 0;
      for (let i = 0; i < warmup + batches; i++) {
        const x = tf.tensor(rng.uniformArray(n * inputSize, 0, 1), [n, ...net.inputShape]); // a new batch, as in training
        const t0 = performance.now();
        const bound = net.bind(x);
        const grads = bound.paramGradsDiff(states[0], states[1], scale);
        trainer.optimizer.step(grads);
        if (i >= warmup) total += performance.now() - t0; // wasm and cpu kernels run synchronously
        Object.values(grads).forEach((g) => g.dispose());
        bound.dispose();
        x.dispose();
      }
      states.flat().forEach((t) => t.dispose());
      trainer.dispose();
      const ms = total / batches;
      const batchesPerEpoch = Math.floor(60000 / n); // an epoch of the MNIST training set
      const width = net.layerShapes[0].reduce((a, b) => a * b, 1);
      const rate = matmulRate(n, inputSize, width);
      ctx.log(
        `    ${ms.toFixed(2)} ms per batch of ${n} without relaxation: ${((ms * batchesPerEpoch) / 1000).toFixed(1)} s per epoch at the least (matmul ${rate.toFixed(1)} GFLOP/s)`,
      );
      return [
        { name: `floor/${preset}/ms-per-batch`, value: ms, unit: 'ms', higherIsBetter: false, detail: { batchSize: n, batches, matmulRate: rate } },
        {
          name: `floor/${preset}/seconds-per-epoch`,
          value: (ms * batchesPerEpoch) / 1000,
          unit: 's',
          higherIsBetter: false,
          detail: { batchesPerEpoch, note: 'bind + EP weight gradients + optimizer step, no relaxation, no evaluation' },
        },
      ];
    },
  };
}
