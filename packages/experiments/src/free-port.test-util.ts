import { createServer } from 'node:net';

/** A port on 127.0.0.1 that nothing listens on (just closed). */
export function freePortForTest(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}
