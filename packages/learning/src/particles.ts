import { ConfigError, type Reads, readValues, runSync, type State, tf } from '@eqprop/core';

/**
 * Persistent particles (Scellier & Bengio 2017): the last free equilibrium of every example of a
 * dataset (the training set, or the test set for persistent evaluation), kept on the host and
 * used to warm-start its next free phase.
 */
export class ParticleStore {
  readonly layers: Float32Array[];
  private readonly sizes: number[];

  constructor(
    readonly count: number,
    readonly layerShapes: number[][],
  ) {
    this.sizes = layerShapes.map((s) => s.reduce((a, b) => a * b, 1));
    this.layers = this.sizes.map((n) => new Float32Array(count * n));
  }

  gather(indices: Int32Array): State {
    return this.gatherArrays(indices).map((a, l) => tf.tensor(a, [indices.length, ...this.layerShapes[l]]));
  }

  gatherArrays(indices: Int32Array): Float32Array[] {
    this.checkIndices(indices);
    return this.layers.map((store, l) => {
      const n = this.sizes[l];
      const out = new Float32Array(indices.length * n);
      indices.forEach((idx, i) => out.set(store.subarray(idx * n, idx * n + n), i * n));
      return out;
    });
  }

  scatter(indices: Int32Array, state: State): void {
    runSync(this.scatterReads(indices, state));
  }

  /** `scatter` as a Reads program (one read per layer). */
  *scatterReads(indices: Int32Array, state: State): Reads<void> {
    const arrays: Float32Array[] = [];
    for (const t of state) arrays.push((yield* readValues(t)) as Float32Array);
    this.scatterArrays(indices, arrays);
  }

  scatterArrays(indices: Int32Array, arrays: Float32Array[]): void {
    this.checkIndices(indices);
    arrays.forEach((data, l) => {
      const n = this.sizes[l];
      indices.forEach((idx, i) => this.layers[l].set(data.subarray(i * n, i * n + n), idx * n));
    });
  }

  /** An index past the store (say, a batch of another dataset) would read zeros or throw a RangeError. */
  private checkIndices(indices: Int32Array): void {
    for (const i of indices) {
      if (!(i >= 0 && i < this.count)) throw new ConfigError(`example index ${i} is outside the ${this.count} examples this particle store holds`);
    }
  }
}
