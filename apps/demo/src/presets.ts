import type { EstimatorKind, OptimizerKind, SolverConfig } from '@eqprop/learning';
import type { MlpConfig } from '@eqprop/models';

/** What the controls change while training (applied from the next batch on). */
export interface Settings {
  estimator: EstimatorKind;
  beta: number;
  freeSteps: number;
  nudgedSteps: number;
  /** One rate per layer group: hidden layer(s), then the output layer. */
  lrs: number[];
}

export interface Preset {
  id: string;
  label: string;
  description: string;
  model: MlpConfig;
  solver: SolverConfig;
  optimizer: OptimizerKind;
  batchSize: number;
  defaults: Settings;
}

export const PRESETS: Preset[] = [
  {
    id: 'small',
    label: 'Small: 784-128-10, fixed point',
    description: 'Primitive form with σ(x) = 1/(1+e^(−4(x−½))) (Ernoult et al. 2019), relaxed by fixed-point iteration, layers updated alternately; Adam.',
    model: { kind: 'mlp', sizes: [784, 128, 10], activation: 'ernoult-sigmoid', form: 'primitive', cost: 'mse', init: 'fan-in' },
    solver: { kind: 'fixed-point', schedule: 'alternating' },
    optimizer: 'adam',
    batchSize: 50,
    defaults: { estimator: 'symmetric', beta: 0.2, freeSteps: 15, nudgedSteps: 5, lrs: [0.002, 0.002] },
  },
  {
    id: 'large',
    label: 'Larger: 784-500-10 Hopfield, gradient descent',
    description: 'Energy form with the hard sigmoid, relaxed by gradient descent with step 0.5, plain SGD (Scellier & Bengio 2017).',
    model: { kind: 'mlp', sizes: [784, 500, 10], activation: 'hard-sigmoid', form: 'hopfield', cost: 'mse', init: 'glorot' },
    solver: { kind: 'gradient-descent', stepSize: 0.5 },
    optimizer: 'sgd',
    batchSize: 20,
    defaults: { estimator: 'random-sign', beta: 1, freeSteps: 20, nudgedSteps: 4, lrs: [0.1, 0.05] },
  },
];

export function presetById(id: string | null): Preset {
  return PRESETS.find((p) => p.id === id) ?? PRESETS[0];
}
