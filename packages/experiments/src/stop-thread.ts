import type { Worker } from 'node:worker_threads';

/**
 * Asks a companion thread (a sidecar, the heartbeat thread) to stop: it answers `{ type:
 * 'stopped' }` once its connection is closed; one that does not answer in time is terminated.
 */
export function stopThread(worker: Worker, timeoutMs = 5000): Promise<void> {
  return new Promise<void>((res) => {
    const timer = setTimeout(() => void worker.terminate().then(() => res()), timeoutMs);
    const onMessage = (m: { type?: string }) => {
      if (m?.type !== 'stopped') return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      res();
    };
    worker.on('message', onMessage);
    worker.postMessage({ type: 'stop' });
  });
}
