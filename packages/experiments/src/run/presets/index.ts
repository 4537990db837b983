import { ConfigError } from '@eqprop/core';
import type { RunConfig } from '../config.js';
import { ernoult2019 } from './ernoult2019.js';
import { ernoult2020Cep } from './ernoult2020-cep.js';
import { hopfieldResnetPresets } from './hopfield-resnet.js';
import { laborieux2021 } from './laborieux2021.js';
import { laborieux2021Conv } from './laborieux2021-conv.js';
import { laborieux2021Vf } from './laborieux2021-vf.js';
import { scellier2017 } from './scellier2017.js';

/** Everything a preset may leave out. */
export const DEFAULTS = {
  evalBatchSize: 1000,
  lrSchedule: 'constant',
  seed: 1,
  backend: 'wasm',
  checkpointEvery: 60,
  algorithm: 'ep',
} as const;

export type Preset = Omit<RunConfig, keyof typeof DEFAULTS | 'preset'> & Partial<Pick<RunConfig, keyof typeof DEFAULTS>>;

const presets: Record<string, Preset> = {
  ...scellier2017,
  ...laborieux2021,
  ...laborieux2021Conv,
  ...ernoult2019,
  ...ernoult2020Cep,
  ...laborieux2021Vf,
  ...hopfieldResnetPresets,
};

/** Adds presets (a new paper's file calls this). */
export function registerPresets(more: Record<string, Preset>): void {
  Object.assign(presets, more);
}

export const DEFAULT_PRESET = 'scellier2017-1h';

export function presetNames(): string[] {
  return Object.keys(presets);
}

export function getPreset(name: string): RunConfig {
  const p = presets[name];
  if (!p) throw new ConfigError(`unknown preset "${name}": expected one of ${presetNames().join(', ')}`);
  return structuredClone({ ...DEFAULTS, ...p, preset: name }) as RunConfig;
}
