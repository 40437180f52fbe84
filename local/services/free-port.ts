import { createServer } from 'node:net';

/**
 * Asks the OS for a free TCP port on 127.0.0.1. Another process may take it before the caller binds it,
 * so callers that cannot bind port 0 themselves (DynamoDB Local) retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}
