import { ConfigError, type Rng } from '@eqprop/core';
import type { EnergyNetwork } from '@eqprop/energies';
import { type ConvnetConfig, convnet } from './convnet.js';
import { type HopfieldResnetConfig, hopfieldResnet } from './hopfield-resnet.js';
import { layeredMlp, type MlpConfig } from './mlp.js';
import { type VfConvnetConfig, vfConvnet } from './vf-convnet.js';
import { type VfMlpConfig, vfMlp } from './vf-mlp.js';

/** Any model config: a `kind` naming a registered architecture, plus its own fields. */
export interface ModelConfig {
  kind: string;
  [field: string]: unknown;
}

export type ArchitectureBuilder = (config: ModelConfig, rng: Rng) => EnergyNetwork;

const builders = new Map<string, ArchitectureBuilder>();

/** Adds an architecture: a new model is a new file that registers itself here. */
export function registerArchitecture(kind: string, builder: ArchitectureBuilder): void {
  builders.set(kind, builder);
}

export function buildModel(config: ModelConfig, rng: Rng): EnergyNetwork {
  const builder = builders.get(config.kind);
  if (!builder) throw new ConfigError(`unknown model kind "${config.kind}": expected one of ${[...builders.keys()].join(', ')}`);
  return builder(config, rng);
}

registerArchitecture('mlp', (c, rng) => layeredMlp(c as unknown as MlpConfig, rng));
registerArchitecture('conv', (c, rng) => convnet(c as unknown as ConvnetConfig, rng));
registerArchitecture('resnet', (c, rng) => hopfieldResnet(c as unknown as HopfieldResnetConfig, rng));
registerArchitecture('vf-mlp', (c, rng) => vfMlp(c as unknown as VfMlpConfig, rng));
registerArchitecture('vf-conv', (c, rng) => vfConvnet(c as unknown as VfConvnetConfig, rng));
