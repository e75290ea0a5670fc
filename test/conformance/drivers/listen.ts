import { createServer, type RequestListener, type Server } from 'node:http';

/** Listens on an ephemeral loopback port. */
export function listen(handler: RequestListener): Promise<Server> {
  const server = createServer(handler);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
