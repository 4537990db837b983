import type { Params } from '@eqprop/core';

/** An order-sensitive checksum of all parameter bits: replicas must agree exactly. */
export function paramsChecksum(params: Params): number {
  let h = 2166136261;
  for (const name of Object.keys(params).sort()) {
    const bits = new Uint32Array((params[name].dataSync() as Float32Array).slice().buffer);
    for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i], 16777619) >>> 0;
  }
  return h;
}
