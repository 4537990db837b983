import { ConfigError, type Rng } from '@eqprop/core';
import { ConvCoupling, DenseCoupling, EnergyNetwork, type FieldTerm, VfConvCoupling, VfDenseCoupling } from '@eqprop/energies';
import { type InitScheme, initWeight } from './init.js';

export interface VectorFieldOptions {
  scheme: InitScheme;
  /** B gets the same update as W (VfCouplingOptions.sameUpdate). */
  sameUpdate: boolean;
  /**
   * The fan-in of a dense B: `upper` as the reference's VF_MLP (B is a Linear from the upper layer
   * to the lower, so PyTorch's U(±1/√fan_in) takes the upper layer's size), `lower` as its VF_CNN
   * (B is a Linear of W's own shape). A conv B always has W's fan-in.
   */
  denseFanIn: 'lower' | 'upper';
}

/**
 * A symmetric network made a vector-field network (Laborieux et al. 2021): every coupling between
 * two free layers keeps its weights as the forward W and gets backward weights B of W's shape,
 * drawn from `rng` (after W, so W is the symmetric model's for the same seed); couplings from the
 * clamped input, biases and the cost stay. The symmetric network is not used after this.
 */
export function vectorFieldOf(base: EnergyNetwork, rng: Rng, opts: VectorFieldOptions, kind: string): EnergyNetwork {
  const { scheme, sameUpdate } = opts;
  const terms: FieldTerm[] = base.terms.map((t) => {
    const backwardName = `B${t.layers[0]}_${t.layers[1]}`;
    if (t instanceof DenseCoupling && t.lower > 0) {
      const [nl, nu] = t.weight.shape;
      const [fanIn, fanOut] = opts.denseFanIn === 'upper' ? [nu, nl] : [nl, nu];
      return new VfDenseCoupling(t.lower, t.upper, t.weight, initWeight([nl, nu], fanIn, fanOut, scheme, rng), { sameUpdate }, t.name, backwardName);
    }
    if (t instanceof ConvCoupling && t.lower > 0) {
      const [kh, kw, cin, cout] = t.kernel.shape;
      const backward = initWeight(t.kernel.shape, kh * kw * cin, kh * kw * cout, scheme, rng);
      const options = { inputShape: t.inputShape, ...t.geometry, pool: t.pool, sameUpdate };
      return new VfConvCoupling(t.lower, t.upper, t.kernel, backward, options, t.name, backwardName);
    }
    return t;
  });
  if (!terms.some((t) => t instanceof VfDenseCoupling || t instanceof VfConvCoupling)) {
    for (const v of Object.values(base.params)) v.dispose();
    throw new ConfigError(
      `a ${kind} network needs two free layers coupled to each other (backward weights join free layers): this one has ${base.depth} free layer(s)`,
    );
  }
  return new EnergyNetwork({
    inputShape: base.inputShape,
    layerShapes: base.layerShapes,
    activations: base.activations,
    terms,
    cost: base.cost,
    form: base.form,
  });
}

/** The options every vector-field model shares, checked: the primitive form only, sameUpdate a boolean. */
export function vectorFieldConfig(config: { form?: unknown; sameUpdate?: unknown }, kind: string): { sameUpdate: boolean } {
  if (config.form !== undefined && config.form !== 'primitive') {
    throw new ConfigError(`${kind} form must be "primitive" (s = σ(∂Φ_k/∂s_k): a vector field has no energy to descend), got ${JSON.stringify(config.form)}`);
  }
  if (config.sameUpdate !== undefined && typeof config.sameUpdate !== 'boolean') {
    throw new ConfigError(`${kind} sameUpdate must be true or false, got ${JSON.stringify(config.sameUpdate)}`);
  }
  return { sameUpdate: config.sameUpdate ?? false };
}
