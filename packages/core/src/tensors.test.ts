import { beforeAll, describe, expect, it } from 'vitest';
import { base64ToBytes, DataFormatError, deserializeTensor, Rng, ShapeError, serializeTensor, setupBackend, takeRows, tf } from './index.js';

beforeAll(async () => {
  await setupBackend('cpu');
});

describe('deserializeTensor: checks before it allocates', () => {
  const good = () =>
    serializeTensor(
      tf.tidy(() =>
        tf.tensor2d([
          [1, 2, 3],
          [4, 5, 6],
        ]),
      ),
    );

  it('round-trips float32 and int32 bit for bit', () => {
    for (const t of [tf.tensor([0.1, -0, Number.MIN_VALUE, 3.4e38], [4]), tf.tensor([1, -2, 2 ** 31 - 1], [3], 'int32')]) {
      const back = deserializeTensor(JSON.parse(JSON.stringify(serializeTensor(t))));
      expect(back.dtype).toBe(t.dtype);
      expect(Array.from(back.dataSync())).toEqual(Array.from(t.dataSync()));
    }
  });

  const bad: [string, () => unknown][] = [
    ['not an object', () => 42],
    ['no shape', () => ({ dtype: 'float32', data: '' })],
    ['a fractional dimension', () => ({ ...good(), shape: [2, 1.5] })],
    ['a negative dimension', () => ({ ...good(), shape: [-2, -3] })],
    ['too many dimensions', () => ({ ...good(), shape: Array(9).fill(1) })],
    ['an unknown dtype', () => ({ ...good(), dtype: 'complex64' })],
    ['a huge shape (no allocation)', () => ({ ...good(), shape: [2 ** 20, 2 ** 20] })],
    ['data of the wrong length', () => ({ ...good(), shape: [3, 3] })],
    ['a bad base64 character', () => ({ ...good(), data: `*${good().data.slice(1)}` })],
  ];
  for (const [name, value] of bad) {
    it(`rejects ${name} with a DataFormatError`, () => {
      expect(() => deserializeTensor(value() as never)).toThrow(DataFormatError);
    });
  }

  it('strips padding in linear time (a long run of "=" is no hang)', () => {
    const t0 = performance.now();
    expect(() => base64ToBytes(`${'='.repeat(200_000)}A`)).toThrow(DataFormatError);
    expect(base64ToBytes(`AAAA${'='.repeat(200_000)}`)).toHaveLength(3);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});

describe('takeRows', () => {
  it('equals tf.gather along axis 0 (float32 on the host, int32 through gather), on wasm and cpu', async () => {
    const rng = new Rng(4);
    for (const backend of ['wasm', 'cpu']) {
      await setupBackend(backend);
      for (const shape of [[7, 3, 4, 2], [5, 9], [6]]) {
        const size = shape.reduce((a, b) => a * b, 1);
        const t = tf.tensor(rng.uniformArray(size, -1, 1), shape);
        const rows = Array.from({ length: 1 + rng.int(8) }, () => rng.int(shape[0])); // repeats allowed
        const got = takeRows(t, rows);
        expect(got.shape).toEqual([rows.length, ...shape.slice(1)]);
        expect(Array.from(got.dataSync())).toEqual(Array.from(tf.gather(t, tf.tensor1d(rows, 'int32')).dataSync()));
        const ints = tf.tensor(
          Array.from({ length: size }, (_, i) => i),
          shape,
          'int32',
        );
        expect(takeRows(ints, rows).dtype).toBe('int32');
        expect(Array.from(takeRows(ints, rows).dataSync())).toEqual(Array.from(tf.gather(ints, tf.tensor1d(rows, 'int32')).dataSync()));
      }
      expect(takeRows(tf.zeros([3, 2]), []).shape).toEqual([0, 2]);
      expect(() => takeRows(tf.zeros([3, 2]), [0, 3])).toThrow(ShapeError);
      expect(() => takeRows(tf.zeros([3, 2]), [1.5])).toThrow(/row 1.5 is outside the 3 rows/);
    }
    await setupBackend('cpu');
  });
});
