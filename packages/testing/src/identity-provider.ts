import { randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import jwt from 'jsonwebtoken';
import { keyPair } from './fixtures';

/** What a route of the fake provider does. */
export type Route = (req: IncomingMessage, res: ServerResponse) => void;

/** A local HTTP identity provider whose routes a test changes at will. */
export interface FakeProvider {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Sets (or replaces) what a path answers. */
  route(path: string, handler: Route): void;
  /** Requests received per path. */
  readonly hits: Map<string, number>;
  close(): Promise<void>;
}

/** Answers a JSON document. */
export function json(body: unknown, status = 200): Route {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}

/** Starts a provider on a free port of 127.0.0.1. */
export async function startProvider(): Promise<FakeProvider> {
  const routes = new Map<string, Route>();
  const hits = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const handler = routes.get(path);
    if (handler === undefined) {
      res.writeHead(404).end();
      return;
    }
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    route: (path, handler) => void routes.set(path, handler),
    hits,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A signing key with its public JWK. */
export interface Signer {
  readonly kid: string;
  readonly alg: 'RS256' | 'ES256' | 'PS256' | 'ES384';
  readonly privateKey: KeyObject;
  /** The public JWK, with `kid` and `alg` unless told otherwise. */
  jwk(extra?: Record<string, unknown>): Record<string, unknown>;
  /** Signs claims (with the signer's `kid` unless the header says otherwise). */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): string;
}

/** Generates a signer; `bits` for RSA keys. */
export function newSigner(
  alg: Signer['alg'] = 'RS256',
  kid: string = randomUUID(),
  bits = 2048,
): Signer {
  const { privateKey, publicKey } = alg.startsWith('ES')
    ? keyPair('ec', { namedCurve: alg === 'ES256' ? 'P-256' : 'P-384' })
    : keyPair('rsa', { modulusLength: bits });
  return {
    kid,
    alg,
    privateKey,
    jwk: (extra = {}) => ({
      ...publicKey.export({ format: 'jwk' }),
      kid,
      alg,
      use: 'sig',
      ...extra,
    }),
    sign: (claims, header = {}) =>
      jwt.sign(claims, privateKey, {
        algorithm: alg,
        header: { alg, typ: 'JWT', kid, ...header } as jwt.JwtHeader,
      }),
  };
}

/** Standard claims for `issuer`, issued at `nowMs`. */
export function claimsFor(
  issuer: string,
  audience: string,
  nowMs: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  return {
    iss: issuer,
    aud: audience,
    sub: 'user-1',
    jti: randomUUID(),
    iat,
    exp: iat + 300,
    scope: 'orders:read',
    ...extra,
  };
}
