import { tf, type State } from '@eqprop/core';

/**
 * Persistent particles (Scellier & Bengio 2017): the last free equilibrium of every training
 * example, kept on the host and used to warm-start its next free phase.
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
    return this.layers.map((store, l) => {
      const n = this.sizes[l];
      const out = new Float32Array(indices.length * n);
      indices.forEach((idx, i) => out.set(store.subarray(idx * n, idx * n + n), i * n));
      return out;
    });
  }

  scatter(indices: Int32Array, state: State): void {
    this.scatterArrays(indices, state.map((t) => t.dataSync() as Float32Array));
  }

  scatterArrays(indices: Int32Array, arrays: Float32Array[]): void {
    arrays.forEach((data, l) => {
      const n = this.sizes[l];
      indices.forEach((idx, i) => this.layers[l].set(data.subarray(i * n, i * n + n), idx * n));
    });
  }
}
