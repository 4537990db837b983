import { ConfigError } from '@eqprop/core';
import { describe, expect, it, vi } from 'vitest';
import { parseFlags } from '../args.js';
import { presetsCommand } from './presets.js';
import { resolveConfig, TRAIN_OPTIONS } from './train.js';

describe('vector-field networks on the command line', () => {
  it('--same-update gives B the same update as W (model.sameUpdate), on a vector-field model only', () => {
    const flags = parseFlags(['--preset', 'laborieux2021-vf-mnist', '--same-update', '--layers', '784,64,10'], TRAIN_OPTIONS);
    expect(resolveConfig(flags).model).toMatchObject({ kind: 'vf-mlp', sizes: [784, 64, 10], sameUpdate: true });
    expect(resolveConfig({ preset: 'laborieux2021-vf-mnist' }).model.sameUpdate).toBeUndefined();
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'same-update': true })).toThrow(ConfigError);
    expect(() => resolveConfig({ preset: 'laborieux2021-mlp', 'same-update': true })).toThrow(
      /^config field "model.sameUpdate" \(--same-update\): applies to the vector-field models \(vf-mlp, vf-conv\), not kind "mlp", got true$/,
    );
  });

  it('`eqprop presets` lists the vector-field presets with the paper', async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((s) => {
      out.push(String(s));
      return true;
    });
    try {
      await presetsCommand();
    } finally {
      spy.mockRestore();
    }
    for (const name of ['laborieux2021-vf-cifar10', 'laborieux2021-vf-cifar10-same-update', 'laborieux2021-vf-mnist']) {
      expect(out.find((l) => l.startsWith(`${name} `))).toMatch(/ Laborieux et al\. 2021: vector-field| Laborieux et al\. 2021: the vector-field/);
    }
  });
});
