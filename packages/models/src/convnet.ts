import { ConfigError, type Rng } from '@eqprop/core';
import {
  activationByName,
  Bias,
  ConvCoupling,
  type Cost,
  CrossEntropyReadout,
  convLayerShape,
  DenseCoupling,
  EnergyNetwork,
  MseCost,
  type NetworkForm,
  POOL_KINDS,
  type PoolKind,
  type Term,
} from '@eqprop/energies';
import { type InitScheme, initBias, initWeight } from './init.js';

export interface ConvnetConfig {
  kind: 'conv';
  /** Per-example input shape [height, width, channels], e.g. [28, 28, 1] or [32, 32, 3]. */
  inputShape: number[];
  /** Output channels of each conv layer, e.g. [32, 64]. */
  channels: number[];
  /** Square kernel side of each conv layer (one value for all, or one per layer). */
  kernels: number[];
  /** Stride of each conv layer (one for all, or one per layer; default 1). */
  strides?: number[];
  /** Zero padding on each side of each conv layer's input (one for all, or one per layer; default 0). */
  paddings?: number[];
  /** Pooling after each convolution: 'max', 'avg' or 'none' (one for all, or one per layer; default 'max'). */
  pools?: PoolKind[];
  /** Pooling window side, which is also its stride (one for all, or one per layer; default 2). */
  poolSizes?: number[];
  /** Dense layers after the convolutions; the last is the class count (with cost 'ce', the readout's). */
  dense: number[];
  activation: string;
  cost: 'mse' | 'ce';
  /** Default 'primitive' (fixed-point dynamics s = σ(∂Φ/∂s), as Ernoult et al. and Laborieux et al.). */
  form?: NetworkForm;
  /** Default 'fan-in' (PyTorch's default, used by the papers' code). */
  init?: InitScheme;
  /**
   * Drop probability of each layer of the energy, the input first: [input, conv layers…, dense
   * layers…] (with `cost: 'ce'` the readout's class count excluded), as the reference's
   * `--dropouts` (which gives keep probabilities). Default none.
   */
  dropout?: number[];
}

/** One value per conv layer from a list of one or `n` values. */
function perLayer<T>(values: T[] | undefined, fallback: T, n: number, field: string, ok: (v: T) => boolean, expected: string): T[] {
  const list = values ?? [fallback];
  if (!Array.isArray(list) || (list.length !== 1 && list.length !== n)) {
    throw new ConfigError(`convnet ${field}: give one value or one per conv layer (${n}), got ${JSON.stringify(values)}`);
  }
  for (const v of list) if (!ok(v)) throw new ConfigError(`convnet ${field}: ${JSON.stringify(v)} is not ${expected}`);
  return list.length === n ? list : Array.from({ length: n }, () => list[0]);
}

const positiveInt = (v: number) => Number.isInteger(v) && v >= 1;

/**
 * A convolutional EP network (Ernoult et al. 2019, Laborieux et al. 2021): conv layers, each the
 * pooled convolution of the layer below plus a per-channel bias, then dense layers from the
 * flattened last conv layer. With `cost: 'ce'` the last dense size is the readout's class count
 * (a readout outside the energy), so `dense: [10]` reads the last conv layer out directly.
 * Layer shapes are checked when the network is built: a kernel larger than its input or a pooling
 * that does not divide throws a ShapeError naming the layer.
 */
export function convnet(config: ConvnetConfig, rng: Rng): EnergyNetwork {
  const { inputShape, channels, dense } = config;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every(positiveInt)) {
    throw new ConfigError(`convnet inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(inputShape)}`);
  }
  if (!Array.isArray(channels) || channels.length < 1 || !channels.every(positiveInt)) {
    throw new ConfigError(`convnet channels must be at least one positive integer, got ${JSON.stringify(channels)}`);
  }
  if (!Array.isArray(config.kernels))
    throw new ConfigError(`convnet kernels must list the kernel side of each conv layer, got ${JSON.stringify(config.kernels)}`);
  if (!Array.isArray(dense) || dense.length < 1 || !dense.every(positiveInt)) {
    throw new ConfigError(`convnet dense must list at least the class count, got ${JSON.stringify(dense)}`);
  }
  if (config.cost !== 'mse' && config.cost !== 'ce') throw new ConfigError(`convnet cost must be "mse" or "ce", got ${JSON.stringify(config.cost)}`);
  const n = channels.length;
  const kernels = perLayer(config.kernels, 0, n, 'kernels', positiveInt, 'a positive integer');
  const strides = perLayer(config.strides, 1, n, 'strides', positiveInt, 'a positive integer');
  const paddings = perLayer(config.paddings, 0, n, 'paddings', (v) => Number.isInteger(v) && v >= 0, 'an integer ≥ 0');
  const pools = perLayer<PoolKind>(config.pools, 'max', n, 'pools', (v) => POOL_KINDS.includes(v), `one of ${POOL_KINDS.join(', ')}`);
  const poolSizes = perLayer(config.poolSizes, 2, n, 'poolSizes', positiveInt, 'a positive integer');
  const scheme = config.init ?? 'fan-in';
  const activation = activationByName(config.activation);

  const terms: Term[] = [];
  const layerShapes: number[][] = [];
  let below = inputShape.slice();
  for (let i = 0; i < n; i++) {
    const [k, name] = [i + 1, `K${i}_${i + 1}`];
    const shape = [kernels[i], kernels[i], below[2], channels[i]];
    const geometry = { stride: strides[i], padding: paddings[i] };
    const pool = { kind: pools[i], size: pools[i] === 'none' ? 1 : poolSizes[i] };
    const out = convLayerShape(below, shape, geometry, pool, name); // checks before any variable is made
    const fanIn = kernels[i] * kernels[i] * below[2];
    const kernel = initWeight(shape, fanIn, kernels[i] * kernels[i] * channels[i], scheme, rng);
    terms.push(new ConvCoupling(i, k, kernel, { inputShape: below, ...geometry, pool }, name));
    terms.push(new Bias(k, initBias([channels[i]], fanIn, scheme, rng), `b${k}`, out));
    layerShapes.push(out);
    below = out;
  }
  const denseLayers = config.cost === 'ce' ? dense.slice(0, -1) : dense;
  let nBelow = below.reduce((a, b) => a * b, 1);
  for (const size of denseLayers) {
    const k = layerShapes.length + 1;
    terms.push(new DenseCoupling(k - 1, k, initWeight([nBelow, size], nBelow, size, scheme, rng)));
    terms.push(new Bias(k, initBias([size], nBelow, scheme, rng)));
    layerShapes.push([size]);
    nBelow = size;
  }
  let cost: Cost = new MseCost();
  if (config.cost === 'ce') {
    const classes = dense[dense.length - 1];
    cost = new CrossEntropyReadout(initWeight([nBelow, classes], nBelow, classes, scheme, rng), initBias([classes], nBelow, scheme, rng));
  }
  return new EnergyNetwork({
    inputShape: inputShape.slice(),
    layerShapes,
    activations: layerShapes.map(() => activation),
    terms,
    cost,
    form: config.form ?? 'primitive',
    dropout: config.dropout,
  });
}
