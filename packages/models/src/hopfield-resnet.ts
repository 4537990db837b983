import { ConfigError, type Rng, tf } from '@eqprop/core';
import {
  ACTIVATIONS,
  type Activation,
  activationByName,
  Bias,
  ConvCoupling,
  type Cost,
  CrossEntropyReadout,
  convLayerShape,
  DenseCoupling,
  EnergyNetwork,
  linear,
  MseCost,
  type NetworkForm,
  ResidualCoupling,
  type Term,
} from '@eqprop/energies';
import { type InitScheme, initBias, initWeight } from './init.js';

/** Multipliers of the initial weights' bounds, by kind of weight (the reference code's weight_gains). */
export interface ResnetGains {
  /** The k × k convolutions (default 1). */
  conv?: number;
  /** The 1×1 skip couplings (default 1). */
  skip?: number;
  /** The dense head, or the CE readout (default 1). */
  dense?: number;
  /** Every bias (default 1). */
  bias?: number;
}

export interface HopfieldResnetConfig {
  kind: 'resnet';
  /** Per-example input shape [height, width, channels], e.g. [32, 32, 3]. */
  inputShape: number[];
  /** Channels of each block's two layers, e.g. [128, 256, 512, 512] (Hopfield-ResNet13). */
  channels: number[];
  /** Odd side of the blocks' kernels, padded by (k − 1)/2 (default 3). */
  kernel?: number;
  /** Class count: the output layer (cost 'mse') or the readout (cost 'ce'). */
  classes: number;
  /** The hidden layers' activation: 'relu6' (the paper's clipped ReLU) or a name of ACTIVATIONS. */
  activation: string;
  /** 'mse': a linear output layer inside the energy (the paper's code); 'ce': a softmax readout outside it. */
  cost: 'mse' | 'ce';
  /** Default 'primitive' (fixed-point dynamics s = σ(∂Φ/∂s)). */
  form?: NetworkForm;
  /** Default 'fan-in': U(±1/√fan_in), times `gains`. */
  init?: InitScheme;
  gains?: ResnetGains;
}

const positiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** The hidden activation by name (ACTIVATIONS: the paper's is relu6 = clip(x, 0, 6)). */
function hiddenActivation(name: string): Activation {
  if (!Object.hasOwn(ACTIVATIONS, name)) {
    throw new ConfigError(`resnet activation "${name}" is unknown: expected one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  }
  return activationByName(name);
}

/** The config's gains, each a positive number (default 1). */
function gainsOf(g: ResnetGains | undefined): Required<ResnetGains> {
  if (g !== undefined && (typeof g !== 'object' || g === null || Array.isArray(g))) {
    throw new ConfigError(`resnet gains must be an object { conv, skip, dense, bias }, got ${JSON.stringify(g)}`);
  }
  const gains = { conv: 1, skip: 1, dense: 1, bias: 1, ...g };
  for (const [k, v] of Object.entries(gains)) {
    if (!['conv', 'skip', 'dense', 'bias'].includes(k)) throw new ConfigError(`resnet gains: unknown field "${k}", expected conv, skip, dense or bias`);
    if (!(typeof v === 'number' && v > 0 && Number.isFinite(v))) throw new ConfigError(`resnet gains.${k} must be a positive number, got ${JSON.stringify(v)}`);
  }
  return gains;
}

/** A weight initialised as `init` would, times `gain`. */
function scaled(v: tf.Variable, gain: number): tf.Variable {
  if (gain !== 1) v.assign(tf.tidy(() => tf.mul(v, gain)));
  return v;
}

/**
 * Hopfield-ResNet (Vinayak & Srinivasan 2025, arXiv 2509.26003): blocks of two convolutional
 * layers, the first a k × k convolution of stride 1 of the layer below, the second one of stride 2
 * (both padded by (k − 1)/2, so the block halves the side), and a 1×1 skip coupling of stride 2
 * from the block's input (layer 2b − 2, the clamped input for the first block) to its output
 * (layer 2b); a per-channel bias on every layer; a dense head from the last block's output. With
 * `channels: [128, 256, 512, 512]` it is Hopfield-ResNet13 (12 convolutions and the head). The
 * couplings are energy terms (E = −Φ), so the network stays one energy that EP trains; the
 * paper's code runs it with ReLU6 hidden layers and, with MSE, a linear output layer.
 */
export function hopfieldResnet(config: HopfieldResnetConfig, rng: Rng): EnergyNetwork {
  const { inputShape, channels, classes } = config;
  if (!Array.isArray(inputShape) || inputShape.length !== 3 || !inputShape.every(positiveInt)) {
    throw new ConfigError(`resnet inputShape must be [height, width, channels] of positive integers, got ${JSON.stringify(inputShape)}`);
  }
  if (!Array.isArray(channels) || channels.length < 1 || !channels.every(positiveInt)) {
    throw new ConfigError(`resnet channels must list at least one block's channels (positive integers), got ${JSON.stringify(channels)}`);
  }
  const k = config.kernel ?? 3;
  if (!positiveInt(k) || k % 2 === 0)
    throw new ConfigError(`resnet kernel must be an odd positive integer (padded by (k − 1)/2), got ${JSON.stringify(config.kernel)}`);
  if (!positiveInt(classes)) throw new ConfigError(`resnet classes must be a positive integer, got ${JSON.stringify(classes)}`);
  if (config.cost !== 'mse' && config.cost !== 'ce') throw new ConfigError(`resnet cost must be "mse" or "ce", got ${JSON.stringify(config.cost)}`);
  const form = config.form ?? 'primitive';
  if (form !== 'primitive' && form !== 'hopfield') throw new ConfigError(`resnet form must be "primitive" or "hopfield", got ${JSON.stringify(config.form)}`);
  const scheme = config.init ?? 'fan-in';
  if (scheme !== 'fan-in' && scheme !== 'glorot') throw new ConfigError(`resnet init must be "fan-in" or "glorot", got ${JSON.stringify(config.init)}`);
  const activation = hiddenActivation(config.activation);
  const gains = gainsOf(config.gains);

  const terms: Term[] = [];
  const layerShapes: number[][] = [];
  const pad = (k - 1) / 2;
  /** A conv coupling of layer `from` (shape `below`) into the next layer, and that layer's bias. */
  const conv = (from: number, below: number[], out: number, stride: number) => {
    const [to, name] = [layerShapes.length + 1, `K${from}_${layerShapes.length + 1}`];
    const shape = [k, k, below[2], out];
    const geometry = { stride, padding: pad };
    const upper = convLayerShape(below, shape, geometry, { kind: 'none', size: 1 }, name); // checks before any variable is made
    const fanIn = k * k * below[2];
    terms.push(new ConvCoupling(from, to, scaled(initWeight(shape, fanIn, k * k * out, scheme, rng), gains.conv), { inputShape: below, ...geometry }, name));
    terms.push(new Bias(to, scaled(initBias([out], fanIn, scheme, rng), gains.bias), `b${to}`, upper));
    layerShapes.push(upper);
    return upper;
  };
  let blockIn = inputShape.slice();
  for (let b = 0; b < channels.length; b++) {
    const from = 2 * b; // the block's input: the clamped input for the first block
    const mid = conv(from, blockIn, channels[b], 1);
    const out = conv(from + 1, mid, channels[b], 2);
    // the skip from the block's input to its output: 1×1, stride 2, the side of the strided convolution
    const skipShape = [1, 1, blockIn[2], channels[b]];
    const skip = new ResidualCoupling(from, from + 2, scaled(initWeight(skipShape, blockIn[2], channels[b], scheme, rng), gains.skip), {
      inputShape: blockIn,
      stride: 2,
    });
    terms.push(skip);
    blockIn = out;
  }
  // the head's bias bound: 1/√(k²·channels), as the reference code's for every layer
  const [n, headFanIn] = [blockIn.reduce((a, b) => a * b, 1), k * k * blockIn[2]];
  let cost: Cost;
  const activations = layerShapes.map(() => activation);
  if (config.cost === 'mse') {
    const top = layerShapes.length;
    terms.push(new DenseCoupling(top, top + 1, scaled(initWeight([n, classes], n, classes, scheme, rng), gains.dense)));
    terms.push(new Bias(top + 1, scaled(initBias([classes], headFanIn, scheme, rng), gains.bias)));
    layerShapes.push([classes]);
    activations.push(linear);
    cost = new MseCost();
  } else {
    cost = new CrossEntropyReadout(
      scaled(initWeight([n, classes], n, classes, scheme, rng), gains.dense),
      scaled(initBias([classes], headFanIn, scheme, rng), gains.bias),
    );
  }
  return new EnergyNetwork({ inputShape: inputShape.slice(), layerShapes, activations, terms, cost, form });
}
