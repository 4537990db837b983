import { backendInfo, Rng, tf } from '@eqprop/core';
import { getPreset } from '@eqprop/experiments';
import { Trainer } from '@eqprop/learning';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { randomBatch } from '../random-batch.js';
import type { BenchCase, BenchResult } from './suite.js';

/**
 * The cases that size a run on an accelerator (`eqprop bench --backend webgpu --only accel`), on
 * any backend: seconds per training batch at the papers' GPU batch sizes, read back once per batch
 * (asynchronously: Trainer.trainBatchAsync), the projected time of an epoch, and the memory the
 * backend holds (on WebGPU: GPU buffers). Inputs are random with the dataset's shape: the cost of a
 * batch does not depend on the pixels for these presets (no per-example stop).
 */
export function acceleratorCases(): BenchCase[] {
  return [
    accelCase('laborieux2021-mlp', 50, [784], 60000),
    accelCase('laborieux2021-mlp', 500, [784], 60000),
    accelCase('laborieux2021-mnist', undefined, [28, 28, 1], 60000),
    accelCase('laborieux2021-cifar10', 128, [32, 32, 3], 50000),
  ];
}

function accelCase(preset: string, batchSize: number | undefined, inputShape: number[], trainCount: number): BenchCase {
  const config = getPreset(preset);
  const n = batchSize ?? config.batchSize;
  return {
    name: `accel/${preset}/batch-${n}`,
    run: async ({ quick, log }) => {
      const net = buildModel(config.model as ModelConfig, new Rng(config.seed));
      const trainer = new Trainer(net, { ...config.trainer, persistent: false, persistentEval: false }, { seed: 2 });
      const timed = quick ? 2 : 5;
      const times: number[] = [];
      let memory: tf.MemoryInfo | undefined;
      for (let i = 0; i < timed + 1; i++) {
        const b = randomBatch(inputShape, n, 3 + i);
        const t0 = performance.now();
        await trainer.trainBatchAsync(b);
        if (i > 0) times.push((performance.now() - t0) / 1000); // the first compiles shaders / warms caches
        if (i === 0) memory = tf.memory();
        tf.dispose([b.x, b.y]);
        log(`  ${preset} batch ${n}: ${i === 0 ? 'warm-up' : `${times.at(-1)!.toFixed(3)} s`}`);
      }
      trainer.dispose();
      for (const p of Object.values(net.params)) p.dispose();
      times.sort((a, b) => a - b);
      const seconds = times[Math.floor(times.length / 2)];
      const batches = Math.floor(trainCount / n);
      const { adapter, name } = backendInfo();
      const gpu = memory as (tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number }) | undefined;
      const detail = {
        backend: name,
        adapter,
        batchSize: n,
        freeSteps: config.trainer.freeSteps,
        nudgedSteps: config.trainer.nudgedSteps,
        estimator: config.trainer.estimator,
        batchesPerEpoch: batches,
        timedBatches: times.length,
        tensorMiB: (memory?.numBytes ?? 0) / 2 ** 20,
        gpuMiB: gpu?.numBytesInGPU === undefined ? undefined : gpu.numBytesInGPU / 2 ** 20,
        gpuAllocatedMiB: gpu?.numBytesInGPUAllocated === undefined ? undefined : gpu.numBytesInGPUAllocated / 2 ** 20,
      };
      const results: BenchResult[] = [
        { name: `accel/${preset}/batch-${n}/seconds-per-batch`, value: seconds, unit: 's', higherIsBetter: false, detail },
        { name: `accel/${preset}/batch-${n}/minutes-per-epoch`, value: (seconds * batches) / 60, unit: 'min', higherIsBetter: false },
      ];
      return results;
    },
  };
}
