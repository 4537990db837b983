import { ConfigError, type Rng } from '@eqprop/core';
import { activationByName, Bias, type Cost, CrossEntropyReadout, DenseCoupling, EnergyNetwork, MseCost, type NetworkForm, type Term } from '@eqprop/energies';
import { type InitScheme, initBias, initWeight } from './init.js';

export interface MlpConfig {
  kind: 'mlp';
  /** [input, hidden…, output], e.g. [784, 500, 10]. With a CE readout the last entry is the class count. */
  sizes: number[];
  activation: string;
  form: NetworkForm;
  cost: 'mse' | 'ce';
  /** w in C = w·‖s_L − y‖² (default ½; Scellier & Bengio's code uses 1). */
  costWeight?: number;
  init?: InitScheme;
  /**
   * Drop probability of each layer of the energy, the input first: one per entry of `sizes` (with
   * `cost: 'ce'`, the readout's class count excluded). Masks drawn per training batch, used by every
   * phase; evaluation is unmasked (EnergyNetworkSpec.dropout). Default none.
   */
  dropout?: number[];
}

/**
 * A layered network: dense couplings between consecutive layers and a bias on every free layer
 * (Scellier & Bengio 2017's layered Hopfield net; Ernoult et al.'s prototypical net in the
 * primitive form). With `cost: 'ce'` the last size is the readout, not a layer of the energy.
 */
export function layeredMlp(config: MlpConfig, rng: Rng): EnergyNetwork {
  const { sizes } = config;
  if (!Array.isArray(sizes) || sizes.length < 2 || sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new ConfigError(`layer sizes must be at least two positive integers (input … output), got [${sizes}]`);
  }
  if (config.cost === 'ce' && sizes.length < 3) {
    throw new ConfigError(`a CE readout needs at least one free layer before it: sizes [${sizes}]`);
  }
  const scheme = config.init ?? 'glorot';
  const activation = activationByName(config.activation);
  const layerSizes = config.cost === 'ce' ? sizes.slice(0, -1) : sizes;
  const terms: Term[] = [];
  for (let k = 1; k < layerSizes.length; k++) {
    const [nIn, nOut] = [layerSizes[k - 1], layerSizes[k]];
    terms.push(new DenseCoupling(k - 1, k, initWeight([nIn, nOut], nIn, nOut, scheme, rng)));
    terms.push(new Bias(k, initBias([nOut], nIn, scheme, rng)));
  }
  if (config.costWeight !== undefined && !(config.costWeight > 0)) {
    throw new ConfigError(`costWeight must be > 0, got ${config.costWeight}`);
  }
  let cost: Cost = new MseCost(config.costWeight);
  if (config.cost === 'ce') {
    const [nL, classes] = sizes.slice(-2);
    cost = new CrossEntropyReadout(initWeight([nL, classes], nL, classes, scheme, rng), initBias([classes], nL, scheme, rng));
  }
  return new EnergyNetwork({
    inputShape: [sizes[0]],
    layerShapes: layerSizes.slice(1).map((n) => [n]),
    activations: layerSizes.slice(1).map(() => activation),
    terms,
    cost,
    form: config.form,
    dropout: config.dropout,
  });
}
