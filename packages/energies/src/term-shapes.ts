import { EqpropError, tf } from '@eqprop/core';
import { type FieldTerm, hasEnergy, TermCache } from './term.js';

/** Shapes as text: `[2, 5]`. */
export const showShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * What of a term does not fit the layers' per-example shapes (`shapes[0]` is the input's), found
 * by running it once on zero activities of a batch of 2 (2, not 1: a field of shape [1, n] would
 * pass for [batch, n] and then broadcast): its energy must be one value per example, its field on
 * every free layer it touches the layer's shape, and its parameter gradients the shapes of its
 * parameters. A term that throws (a matMul of the wrong sizes) is described with the shapes it
 * met. Undefined when all fits; nothing is kept.
 */
export function probeTermShapes(term: FieldTerm, shapes: readonly (readonly number[])[], batch = 2): string | undefined {
  const cache = new TermCache();
  try {
    return tf.tidy(() => {
      const acts = shapes.map((s) => tf.zeros([batch, ...s]));
      const energy = hasEnergy(term) ? term.energy(acts) : undefined; // a vector-field term has none
      if (energy && !sameShape(energy.shape, [batch])) {
        return `its energy has shape ${showShape(energy.shape)} for a batch of ${batch}, expected [${batch}] (one value per example)`;
      }
      for (const k of term.layers) {
        if (k === 0) continue; // the clamped input takes no field
        const expected = [batch, ...shapes[k]];
        const field = term.field(acts, k, cache);
        if (!sameShape(field.shape, expected)) {
          return `it sends a field of shape ${showShape(field.shape)} to layer ${k} of shape ${showShape(shapes[k])}: expected ${showShape(expected)} for a batch of ${batch}`;
        }
      }
      const grads = term.paramGrads(acts);
      for (const [name, p] of Object.entries(term.params)) {
        if (!grads[name]) return `paramGrads gives no gradient for its parameter ${name}`;
        if (!sameShape(grads[name].shape, p.shape)) {
          return `its gradient of ${name} has shape ${showShape(grads[name].shape)}, the parameter ${showShape(p.shape)}`;
        }
      }
      return undefined;
    });
  } catch (e) {
    if (e instanceof EqpropError) throw e;
    const layers = term.layers.map((k) => `layer ${k} ${showShape(shapes[k] ?? [])}`).join(', ');
    const params = Object.entries(term.params)
      .map(([name, p]) => `${name} ${showShape(p.shape)}`)
      .join(', ');
    const why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').slice(0, 200);
    return `it fails on ${layers}${params ? ` with parameters ${params}` : ''}: ${why}`;
  } finally {
    cache.dispose();
  }
}
