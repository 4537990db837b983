import { Rng, tf } from '@eqprop/core';
import { ConvCoupling, conv2dBackpropInput, convOutputSize, flipKernel, kernelRow } from '@eqprop/energies';
import { getPreset } from '@eqprop/experiments';
import { buildModel, type ModelConfig } from '@eqprop/models';
import { medianMs } from './measure.js';
import type { BenchCase } from './suite.js';

/**
 * The field a preset's conv coupling sends to its free lower layer (a transposed convolution, once
 * per relaxation step), both ways: one convolution of the padded routed field, and one per kernel
 * row (what the coupling uses where `transposesByRows`). Medians over `runs` calls at each batch.
 */
export function transposeCase(preset: string, batchSizes = [1, 10, 20], runs = 30): BenchCase {
  return {
    name: `transpose/${preset}`,
    run: () => {
      const net = buildModel(getPreset(preset).model as ModelConfig, new Rng(1));
      const term = net.terms.find((t): t is ConvCoupling => t instanceof ConvCoupling && t.lower > 0);
      if (!term) throw new Error(`preset ${preset} has no conv coupling with a free lower layer`);
      const flipped = flipKernel(term.kernel);
      const rows = Array.from({ length: term.kernel.shape[0] }, (_, r) => kernelRow(flipped, r));
      const [kh, kw, , cout] = term.kernel.shape;
      const convShape = [convOutputSize(term.inputShape[0], kh, term.geometry), convOutputSize(term.inputShape[1], kw, term.geometry), cout];
      const results = batchSizes.flatMap((n) => {
        const dy = tf.randomUniform([n, ...convShape]);
        const time = (withRows: boolean) =>
          medianMs(
            () => {
              const f = conv2dBackpropInput(dy, term.kernel, flipped, term.inputShape, term.geometry, withRows ? rows : undefined);
              f.dataSync();
              f.dispose();
            },
            runs,
            3,
          );
        // alternated, so that a drift of the machine's speed hits both
        const [padded, byRows] = [time(false), time(true)];
        const [padded2, byRows2] = [time(false), time(true)];
        dy.dispose();
        const [p, r] = [Math.min(padded, padded2), Math.min(byRows, byRows2)];
        const name = `transpose/${preset}/${term.name}/b${n}`;
        return [
          { name: `${name}/padded-ms`, value: p, unit: 'ms', higherIsBetter: false },
          { name: `${name}/by-rows-ms`, value: r, unit: 'ms', higherIsBetter: false, detail: { usedByTheCoupling: term.transposesByRows } },
          { name: `${name}/speedup`, value: p / r, unit: 'ratio', higherIsBetter: true },
        ];
      });
      [flipped, ...rows].forEach((t) => t.dispose());
      Object.values(net.params).forEach((p) => p.dispose());
      return results;
    },
  };
}
