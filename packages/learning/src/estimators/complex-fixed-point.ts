import { ConfigError, type Reads, type State, tf } from '@eqprop/core';
import {
  Bias,
  type BoundNetwork,
  ConvCoupling,
  type Cost,
  CrossEntropyReadout,
  DenseCoupling,
  type EnergyNetwork,
  type FieldTerm,
  MseCost,
  type Nudge,
} from '@eqprop/energies';
import { FixedPoint, iterateReads, type Relaxation, type RelaxOptions, type Solver } from '@eqprop/solvers';

/**
 * Fixed-point relaxation of complex states, carried as real/imaginary pairs (the wasm backend has
 * no complex64 kernels). The step is FixedPoint's, s_k ← (1−ε)s_k + ε·σ(gain·(field_k − centre)),
 * extended to complex s and β (Laborieux & Zenke 2022). Dense and convolutional couplings (no
 * max-pooling) and biases give fields affine in the activities, so field(s_re + i·s_im) =
 * field(s_re) + i·(the moving terms' fields at s_im). The nudge −β ∂C/∂s_L is holomorphic in s_L:
 * affine for MSE, through a complex softmax for the CE readout.
 */

/** Throws one line naming what makes the network or solver unfit for complex relaxation. */
export function checkHolomorphic(net: EnergyNetwork, solver: Solver): void {
  if (net.dropout) {
    throw new ConfigError(
      'holomorphic EP relaxes its complex phases by its own step, which applies no dropout masks: use symmetric, one-sided or random-sign with dropout',
    );
  }
  if (!(solver instanceof FixedPoint)) {
    throw new ConfigError(`holomorphic EP relaxes complex states by fixed-point iteration: got solver ${solver.name}, expected fixed-point (primitive form)`);
  }
  if (net.form !== 'primitive')
    throw new ConfigError('holomorphic EP needs the primitive form (s = σ(∂Φ/∂s)): the hopfield form clips its states, which is not holomorphic');
  net.activations.forEach((a, i) => {
    if (a.fusedBase !== 'sigmoid') {
      throw new ConfigError(
        `activation "${a.name}" of layer ${i + 1} is not holomorphic (a clip has no complex extension): holomorphic EP needs logistic activations (sigmoid, ernoult-sigmoid)`,
      );
    }
  });
  for (const t of net.terms) {
    if (t instanceof ConvCoupling && t.pool.kind === 'max' && t.pool.size > 1) {
      throw new ConfigError(
        `term ${t.name} max-pools: its field is not affine in the activities, so holomorphic EP cannot carry complex states as real/imaginary pairs`,
      );
    }
    if (!(t instanceof DenseCoupling || t instanceof ConvCoupling || t instanceof Bias)) {
      throw new ConfigError(
        `term ${t.name} is not known to have a field affine in the activities (dense, convolutional and bias terms are): holomorphic EP refuses it`,
      );
    }
  }
  if (!(net.cost instanceof MseCost || net.cost instanceof CrossEntropyReadout)) {
    throw new ConfigError(`cost "${net.cost.name}" has no complex nudge here: holomorphic EP supports the mse cost and the ce readout`);
  }
}

/** σ(a + ib) for the logistic σ(z) = 1/(1 + e^{−z}), as [re, im], without overflow for large |a|. */
export function complexLogistic(a: tf.Tensor, b: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    // with q = e^{−|a|} ≤ 1: σ = (1 + q e^{−ib}) / |1 + q e^{−ib}|² for a ≥ 0, (q² + q e^{−ib}) / |…|² for a < 0
    const q = tf.exp(tf.neg(tf.abs(a)));
    const qc = tf.mul(q, tf.cos(b));
    const q2 = tf.square(q);
    const den = tf.add(tf.add(1, tf.mul(2, qc)), q2);
    const re = tf.div(tf.add(qc, tf.where(tf.greaterEqual(a, 0), tf.onesLike(a), q2)), den);
    const im = tf.div(tf.mul(q, tf.sin(b)), den);
    return [re, im];
  });
}

/** −∂C/∂s_L at the complex output s_re + i·s_im, as [re, im] shaped like the output. */
function complexNudgeField(b: BoundNetwork, cost: Cost, outR: tf.Tensor, outI: tf.Tensor, y: tf.Tensor): [tf.Tensor, tf.Tensor] {
  if (cost instanceof MseCost) {
    // 2w(y − s): the real part at s_re, the imaginary part −2w·s_im
    return [cost.nudgeField(outR, y).reshape(outR.shape), tf.mul(outI, -2 * cost.weight)];
  }
  // CE readout: −(softmax(z) − y) W_outᵀ with complex logits z = s W_out + b_out, W_out and b_out real
  const readout = cost as CrossEntropyReadout;
  const w = readout.weight as tf.Tensor2D;
  const flat = (t: tf.Tensor) => t.reshape([t.shape[0], -1]) as tf.Tensor2D;
  const zr = tf.add(tf.matMul(flat(outR), w), readout.bias);
  const zi = tf.matMul(flat(outI), w);
  // e^{z − max Re z} = e^{zr − m}(cos zi + i sin zi); softmax = u / Σu, a complex division
  const mag = tf.exp(tf.sub(zr, tf.max(zr, 1, true)));
  const [ur, ui] = [tf.mul(mag, tf.cos(zi)), tf.mul(mag, tf.sin(zi))];
  const [sr, si] = [tf.sum(ur, 1, true), tf.sum(ui, 1, true)];
  const den = tf.add(tf.square(sr), tf.square(si));
  const pr = tf.div(tf.add(tf.mul(ur, sr), tf.mul(ui, si)), den);
  const pi = tf.div(tf.sub(tf.mul(ui, sr), tf.mul(ur, si)), den);
  const wT = b.cache.shared('Wout:T', () => tf.transpose(w)) as tf.Tensor2D;
  return [tf.neg(tf.matMul(tf.sub(pr, y) as tf.Tensor2D, wT)).reshape(outR.shape), tf.neg(tf.matMul(pi as tf.Tensor2D, wT)).reshape(outI.shape)];
}

/**
 * Relaxes from the real state `start` with the complex nudge β = re + i·im. The relaxation's state
 * is [re_1 … re_L, im_1 … im_L]; its residual is the largest change of either part in the last step.
 */
export function complexRelaxReads(
  bound: BoundNetwork,
  solver: FixedPoint,
  start: State,
  beta: { re: number; im: number },
  y: tf.Tensor,
  opts: Omit<RelaxOptions, 'nudge'>,
): Reads<Relaxation> {
  const net = bound.net;
  const L = net.depth;
  const moving: FieldTerm[][] = Array.from({ length: L + 1 }, (_, k) => net.terms.filter((t) => k > 0 && t.layers.includes(k) && !t.isStaticFor(k)));
  const inside = solver.nudgeAt === 'inside';
  const eps = solver.stepSize;
  // one layer's new [re, im] from the real and imaginary activities
  const layer = (b: BoundNetwork, allR: tf.Tensor[], allI: tf.Tensor[], k: number, nudge: Nudge): [tf.Tensor, tf.Tensor] => {
    const { gain } = net.activations[k - 1].affine;
    let zr = b.preActivation(allR, k);
    let zi: tf.Tensor = moving[k]
      .map((t) => {
        const f = t.field(allI, k, b.cache);
        return gain === 1 ? f : tf.mul(f, gain);
      })
      .reduce((s: tf.Tensor, f) => tf.add(s, f), tf.zerosLike(allI[k]));
    let push: [tf.Tensor, tf.Tensor] | undefined;
    if (k === L) {
      const [nr, ni] = complexNudgeField(b, net.cost, allR[k], allI[k], nudge.y);
      push = [tf.sub(tf.mul(nr, beta.re), tf.mul(ni, beta.im)), tf.add(tf.mul(ni, beta.re), tf.mul(nr, beta.im))];
      if (inside) {
        zr = tf.add(zr, tf.mul(push[0], gain));
        zi = tf.add(zi, tf.mul(push[1], gain));
      }
    }
    let [tr, ti] = complexLogistic(zr, zi);
    if (push && !inside) [tr, ti] = [tf.add(tr, push[0]), tf.add(ti, push[1])];
    if (eps === 1) return [tr, ti];
    return [tf.add(tf.mul(allR[k], 1 - eps), tf.mul(tr, eps)), tf.add(tf.mul(allI[k], 1 - eps), tf.mul(ti, eps))];
  };
  const step = (state: State, b: BoundNetwork, nudge?: Nudge): State =>
    tf.tidy(() => {
      const allR = b.allActs(state.slice(0, L));
      const allI = [tf.zerosLike(b.x), ...state.slice(L)];
      const layers = Array.from({ length: L }, (_, i) => i + 1);
      const groups = solver.schedule === 'synchronous' ? [layers] : [layers.filter((k) => k % 2 === 1), layers.filter((k) => k % 2 === 0)];
      for (const group of groups) {
        const fresh = group.map((k) => [k, layer(b, allR, allI, k, nudge!)] as const);
        for (const [k, [r, i]] of fresh) [allR[k], allI[k]] = [r, i];
      }
      return [...allR.slice(1), ...allI.slice(1)];
    });
  return (function* () {
    const zeros = start.map((s) => tf.zerosLike(s));
    try {
      // the real part of β rides in the nudge so that per-example stops gather y with the examples
      return yield* iterateReads(bound, [...start, ...zeros], { ...opts, nudge: { beta: beta.re, y } }, step);
    } finally {
      tf.dispose(zeros);
    }
  })();
}
