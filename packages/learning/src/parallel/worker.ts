import { parentPort } from 'node:worker_threads';
import { type Batch, type Grads, Rng, setupBackend, tf } from '@eqprop/core';
import { buildModel } from '@eqprop/models';
import { ParticleStore } from '../particles.js';
import { disposeGrads, Trainer } from '../trainer.js';
import { paramsChecksum } from './checksum.js';
import type { FromWorker, ShardData, ToWorker } from './protocol.js';

/** A replica: its own backend, model and optimizer; computes its share of each batch. */
let trainer: Trainer | undefined;
const port = parentPort!;

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port.postMessage(msg, transfer);
}

/** A share as a batch (its tensors the caller's to dispose); indices are the leader's business. */
function shardBatch(msg: ShardData): Batch {
  const n = msg.labels.length;
  return { x: tf.tensor(msg.x, msg.xShape), y: tf.tensor2d(msg.y, [n, msg.classes]), labels: msg.labels, indices: new Int32Array(n) };
}

port.on('message', async (msg: ToWorker) => {
  try {
    if (msg.type === 'init') {
      for (const m of msg.setupModules) await import(m);
      await setupBackend(msg.backend);
      const net = buildModel(msg.model, new Rng(msg.seed));
      for (const [name, values] of Object.entries(msg.params)) {
        const t = tf.tensor(values, net.params[name].shape);
        net.params[name].assign(t);
        t.dispose();
      }
      // the leader keeps both particle stores and sends each share its warm starts
      trainer = new Trainer(net, { ...msg.trainer, persistent: false, persistentEval: false }, { seed: msg.seed });
      trainer.optimizer.setState(msg.optimizer);
      send({ type: 'ready' });
    } else if (msg.type === 'shard') {
      const t = trainer!;
      const batch = shardBatch(msg);
      const { x, y } = batch;
      const n = msg.labels.length;
      const init = msg.init?.map((a, l) => tf.tensor(a, [n, ...t.net.layerShapes[l]]));
      const { grads, result, freeState } = t.computeGrads(batch, msg.draw, init);
      const means: Record<string, Float32Array> = {};
      for (const [name, g] of Object.entries(grads)) means[name] = (g.dataSync() as Float32Array).slice();
      disposeGrads(grads);
      [x, y, ...(init ?? [])].forEach((v) => v.dispose());
      const buffers = [...Object.values(means), ...(msg.init ? (freeState ?? []) : [])].map((a) => a.buffer as ArrayBuffer);
      send(
        {
          type: 'result',
          grads: means,
          loss: result.loss * n,
          errors: result.errors,
          freeSteps: result.freeSteps,
          freeStepsPerExample: result.freeStepsPerExample,
          freeState: msg.init ? freeState : undefined,
        },
        buffers,
      );
    } else if (msg.type === 'evaluate') {
      const batch = shardBatch(msg);
      try {
        // warm starts: a store of this share alone, indexed 0..n−1, that comes back with the equilibria
        let store: ParticleStore | undefined;
        if (msg.init) {
          batch.indices = Int32Array.from(batch.indices, (_, i) => i);
          store = new ParticleStore(batch.indices.length, trainer!.net.layerShapes);
          store.scatterArrays(batch.indices, msg.init);
        }
        const r = trainer!.evaluateBatch(batch, store);
        send(
          { type: 'evaluated', errors: r.errors, top5Errors: r.top5Errors, loss: r.loss, size: r.size, freeState: store?.layers },
          store?.layers.map((a) => a.buffer as ArrayBuffer),
        );
      } finally {
        batch.x.dispose();
        batch.y.dispose();
      }
    } else if (msg.type === 'apply') {
      const t = trainer!;
      const grads: Grads = {};
      for (const [name, values] of Object.entries(msg.grads)) grads[name] = tf.tensor(values, t.net.params[name].shape);
      t.optimizer.step(grads, msg.lrScale);
      disposeGrads(grads);
      send({ type: 'applied' });
    } else if (msg.type === 'checksum') {
      send({ type: 'checksum', value: paramsChecksum(trainer!.net.params) });
    } else if (msg.type === 'memory') {
      const { numTensors, numBytes } = tf.memory();
      send({ type: 'memory', numTensors, numBytes });
    } else if (msg.type === 'close') {
      trainer?.dispose();
      port.close();
    }
  } catch (e) {
    const err = e as Error;
    send({ type: 'error', message: err.message, name: err.name });
  }
});
