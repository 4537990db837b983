import { tf } from '@eqprop/core';
import type { FieldTerm } from './term.js';

/**
 * Degrees between two weights of one shape, seen as vectors: acos(⟨W, B⟩ / (‖W‖‖B‖)), the angle
 * Laborieux et al.'s VF_CNN.angle() logs between forward and backward weights. Computed as
 * 2·atan2(‖Ŵ − B̂‖, ‖Ŵ + B̂‖) (Ŵ = W/‖W‖): the same angle, but exactly 0 for B = W, where acos of
 * a float32 cosine rounded to 1 − 6e-8 reads 0.02°. A scalar the caller reads and disposes.
 */
export function weightAngle(w: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const wu = tf.div(w, tf.norm(w));
    const bu = tf.div(b, tf.norm(b));
    return tf.mul(tf.atan2(tf.norm(tf.sub(wu, bu)), tf.norm(tf.add(wu, bu))), 360 / Math.PI) as tf.Scalar;
  });
}

/** A term with forward and backward weights (a vector-field coupling). */
export interface WeightAngleTerm extends FieldTerm {
  /** Degrees between its forward and backward weights (weightAngle). */
  angle(): tf.Scalar;
}

export function hasWeightAngle(term: FieldTerm): term is WeightAngleTerm {
  return typeof (term as Partial<WeightAngleTerm>).angle === 'function';
}

/**
 * The W–B angle of every vector-field term of a network, in degrees by term name (empty when it
 * has none): one asynchronous read for all of them, so it runs on every backend.
 */
export async function weightAngles(net: { readonly terms: readonly FieldTerm[] }): Promise<Record<string, number>> {
  const terms = net.terms.filter(hasWeightAngle);
  if (terms.length === 0) return {};
  const all = tf.tidy(() => tf.stack(terms.map((t) => t.angle())));
  try {
    const values = await all.data();
    return Object.fromEntries(terms.map((t, i) => [t.name, values[i]]));
  } finally {
    all.dispose();
  }
}
