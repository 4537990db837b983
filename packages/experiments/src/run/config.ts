import { ConfigError } from '@eqprop/core';
import { estimatorNames, isEstimatorName } from '@eqprop/learning';
import { z } from 'zod';

const positiveInt = z.number().int().positive();
/** Model kinds with backward weights B (Laborieux et al. 2021's vector-field networks): `model.sameUpdate` applies to them. */
export const VECTOR_FIELD_KINDS = ['vf-mlp', 'vf-conv'];
const solver = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('gradient-descent'), stepSize: z.number().positive() }).strict(),
  z
    .object({
      kind: z.literal('fixed-point'),
      schedule: z.enum(['synchronous', 'alternating']),
      stepSize: z.number().positive().max(1).optional(),
      nudge: z.enum(['inside', 'outside']).optional(),
    })
    .strict(),
]);

export const runConfigSchema = z
  .object({
    preset: z.string().optional(),
    description: z.string().optional(),
    model: z
      .object({ kind: z.string(), sameUpdate: z.boolean().optional() })
      .passthrough()
      .superRefine((model, ctx) => {
        // B gets W's update: only a vector-field model has a B
        if (model.sameUpdate !== undefined && !VECTOR_FIELD_KINDS.includes(model.kind)) {
          ctx.addIssue({
            code: 'custom',
            path: ['sameUpdate'],
            message: `applies to the vector-field models (${VECTOR_FIELD_KINDS.join(', ')}), not kind "${model.kind}"`,
          });
        }
      }),
    trainer: z
      .object({
        solver,
        freeSteps: positiveInt,
        nudgedSteps: positiveInt,
        tol: z.number().nonnegative().optional(),
        tolPerExample: z.boolean().optional(),
        predictStops: z.boolean().optional(),
        evalSteps: positiveInt.optional(),
        // any registered estimator (a user's too): the names come from the registry when validated
        estimator: z.string().superRefine((name, ctx) => {
          if (!isEstimatorName(name)) ctx.addIssue({ code: 'custom', message: `expected one of ${estimatorNames().join(', ')}` });
        }),
        /** The estimator's own options (holomorphic: points N ≥ 2, divergenceTol). */
        estimatorOptions: z
          .object({ points: z.number().int().min(2).optional(), divergenceTol: z.number().positive().optional() })
          .passthrough()
          .optional(),
        beta: z.number().positive({ message: 'β must be > 0 (the estimator chooses the sign)' }),
        optimizer: z
          .object({
            kind: z.enum(['sgd', 'momentum', 'adam']),
            lrs: z.array(z.number().nonnegative({ message: 'a learning rate must be ≥ 0 (0 freezes its layer)' })).min(1),
            // rates by parameter name, overriding lrs (the names are checked against the model's when the trainer starts)
            lrByParam: z.record(z.string(), z.number().nonnegative({ message: 'a learning rate must be ≥ 0 (0 freezes its parameter)' })).optional(),
            momentum: z.number().min(0).max(1).optional(),
            weightDecay: z.number().nonnegative().optional(),
          })
          .strict(),
        persistent: z.boolean(),
        persistentEval: z.boolean().optional(),
      })
      .strict(),
    data: z
      .object({
        dataset: z.enum(['mnist', 'fashion-mnist', 'kmnist', 'cifar10', 'cifar100', 'svhn']),
        /** CIFAR-100 only: 'fine' (100 classes, the default) or 'coarse' (20 superclasses). */
        labels: z.enum(['fine', 'coarse']).optional(),
        dataDir: z.string().optional(),
        download: z.boolean().optional(),
        trainLimit: positiveInt.optional(),
        testLimit: positiveInt.optional(),
        /** Hold out the last N training examples as a validation set (evaluated every epoch; early-stopping figures). */
        validation: positiveInt.optional(),
        flatten: z.boolean(),
        augment: z.object({ cropPad: z.number().int().nonnegative().optional(), flip: z.boolean().optional() }).strict().optional(),
      })
      .strict()
      .superRefine((data, ctx) => {
        if (data.labels !== undefined && data.dataset !== 'cifar100') {
          ctx.addIssue({ code: 'custom', path: ['labels'], message: `only cifar100 has fine and coarse labels (dataset is ${data.dataset})` });
        }
      }),
    batchSize: positiveInt,
    evalBatchSize: positiveInt,
    epochs: positiveInt,
    lrSchedule: z.enum(['constant', 'cosine']),
    seed: z.number().int().nonnegative(),
    backend: z.enum(['wasm', 'cpu', 'tensorflow', 'webgl', 'webgpu', 'auto']),
    /** Seconds between mid-epoch checkpoints. */
    checkpointEvery: z.number().positive(),
    /** Also checkpoint after this many batches (resume tests, long batches). */
    checkpointEveryBatches: positiveInt.optional(),
    /**
     * Data-parallel replicas (worker threads, the main thread included); default 1. Measured on
     * 2 cores, two replicas are slower than one for the MLP presets (per-op overhead and gradient
     * exchange outweigh the halved batch); they pay where a step is compute-bound.
     */
    workers: positiveInt.optional(),
    /**
     * Relaxation and optimizer step: `auto` (default: the fused CPU path of @eqprop/kernels where it
     * applies, tfjs ops elsewhere), `fused` (a ConfigError where it cannot run), or `tfjs` ops.
     */
    kernels: z.enum(['fused', 'tfjs', 'auto']).optional(),
    /**
     * Threads the fused path (`kernels` fused or auto) shares a batch over, the main one included:
     * rows of each relaxation, rows of each weight's gradient, ranges of the parameters; the results
     * do not depend on it. Default: 2 where the machine has at least 2 cores and batches have 50 examples or more, else 1.
     */
    kernelThreads: positiveInt.max(64).optional(),
    /**
     * How the gradient is computed: EP, BPTT through the same dynamics (Ernoult et al. 2019), or
     * continual EP, the weights updated at every nudged step (Ernoult et al. 2020; ContinualTrainer).
     */
    algorithm: z.enum(['ep', 'bptt', 'cep']).default('ep'),
    /** Stop after this many batches in total (smoke runs). */
    maxBatches: positiveInt.optional(),
  })
  .strict();

export type RunConfig = z.infer<typeof runConfigSchema>;

/**
 * Validates a config, turning the first problem into a one-line ConfigError naming the field, the
 * value and what is expected; `flagFor` names the command-line flag a field came from, if any.
 */
export function validateConfig(raw: unknown, flagFor?: (field: string) => string | undefined): RunConfig {
  const result = runConfigSchema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue.path.join('.') || '(root)';
  let detail = issue.message;
  if (issue.code === 'invalid_enum_value') detail = `expected one of ${issue.options.join(', ')}, got "${String(issue.received)}"`;
  if (issue.code === 'unrecognized_keys') detail = `unknown field(s) ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type') detail = `expected ${issue.expected}, got ${issue.received}`;
  // zod's own wording names neither the value nor the bound in symbols: say both
  if ((issue.code === 'too_small' || issue.code === 'too_big') && issue.type === 'number' && detail.startsWith('Number must be')) {
    const [op, bound] = issue.code === 'too_small' ? [issue.inclusive ? '≥' : '>', issue.minimum] : [issue.inclusive ? '≤' : '<', issue.maximum];
    detail = `must be ${op} ${bound}`;
  }
  if (issue.code === 'invalid_type' && issue.expected === 'integer') detail = 'must be an integer';
  if (['too_small', 'too_big', 'custom', 'not_multiple_of'].includes(issue.code) || (issue.code === 'invalid_type' && issue.expected === 'integer')) {
    const value = valueAt(raw, issue.path);
    if (value !== undefined && typeof value !== 'object') detail += `, got ${JSON.stringify(value)}`;
  }
  const flag = flagFor?.(field);
  throw new ConfigError(`config field "${field}"${flag ? ` (${flag})` : ''}: ${detail}`);
}

function valueAt(v: unknown, path: (string | number)[]): unknown {
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Deep merge of plain objects; arrays and scalars in `over` replace those of `base`. */
export function mergeConfig<T>(base: T, over: unknown): T {
  if (!isPlain(base) || !isPlain(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = mergeConfig((base as Record<string, unknown>)[k], v);
  return out as T;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
