import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An Express or Koa app: both listen like `http.Server`. */
export interface Listenable {
  listen(port: number, hostname: string, callback: () => void): Server;
}

/** A server on a free port of 127.0.0.1. */
export interface Listening {
  readonly baseUrl: string;
  close(): Promise<void>;
}

/** Starts `app` on a free port of 127.0.0.1 (for the story over real HTTP). */
export async function listen(app: Listenable): Promise<Listening> {
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
