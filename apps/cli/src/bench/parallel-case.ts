import { type Batch, Rng, tf } from '@eqprop/core';
import { getPreset } from '@eqprop/experiments';
import { Trainer } from '@eqprop/learning';
import { DataParallelTrainer } from '@eqprop/learning/parallel';
import { buildModel, type ModelConfig } from '@eqprop/models';
import type { BenchCase, BenchResult } from './suite.js';

/**
 * Throughput of data-parallel training with 1 and 2 replicas on the same batches (examples/s), at
 * the preset's batch size or at `batchSize` (the case is then named `parallel/<preset>@<size>`).
 */
export function parallelCase(preset: string, batches = 60, warmup = 5, batchSize?: number): BenchCase {
  const caseName = batchSize === undefined ? `parallel/${preset}` : `parallel/${preset}@${batchSize}`;
  return {
    name: caseName,
    run: async (ctx) => {
      const base = getPreset(preset);
      const config = { ...base, batchSize: batchSize ?? base.batchSize };
      const model = config.model as ModelConfig;
      const probe = buildModel(model, new Rng(1));
      const inputShape = probe.inputShape;
      Object.values(probe.params).forEach((v) => v.dispose());
      const inputSize = inputShape.reduce((a, b) => a * b, 1);
      const rng = new Rng(3);
      const make = (): Batch => {
        const n = config.batchSize;
        const labels = Int32Array.from({ length: n }, () => rng.int(10));
        return {
          x: tf.tensor(rng.uniformArray(n * inputSize, 0, 1), [n, ...inputShape]),
          y: tf.oneHot(tf.tensor1d(labels, 'int32'), 10).toFloat() as tf.Tensor2D,
          labels,
          indices: Int32Array.from({ length: n }, (_, i) => i),
        };
      };
      const rate = async (workers: number) => {
        const trainer = new Trainer(buildModel(model, new Rng(1)), { ...config.trainer, persistentEval: false }, { seed: 2, trainCount: config.batchSize });
        const par = workers > 1 ? await DataParallelTrainer.create(trainer, model, 1, { workers, backend: config.backend }) : undefined;
        const step = async (b: Batch) => {
          await (par ? par.trainBatch(b) : trainer.trainBatch(b));
          b.x.dispose();
          b.y.dispose();
        };
        for (let i = 0; i < warmup; i++) await step(make());
        const t0 = performance.now();
        for (let i = 0; i < batches; i++) await step(make());
        const seconds = (performance.now() - t0) / 1000;
        await par?.close();
        trainer.dispose();
        return (batches * config.batchSize) / seconds;
      };
      const one = await rate(1);
      const two = await rate(2);
      ctx.log(`    1 replica ${one.toFixed(0)} ex/s, 2 replicas ${two.toFixed(0)} ex/s`);
      const results: BenchResult[] = [
        { name: `${caseName}/examples-per-s-1-worker`, value: one, unit: 'ex/s', higherIsBetter: true },
        { name: `${caseName}/examples-per-s-2-workers`, value: two, unit: 'ex/s', higherIsBetter: true },
        { name: `${caseName}/speedup-2-workers`, value: two / one, unit: 'ratio', higherIsBetter: true },
      ];
      return results;
    },
  };
}
