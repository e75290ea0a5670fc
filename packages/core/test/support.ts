/**
 * Helpers shared by the core unit tests: request views, hand-built compact JWS, failure doubles.
 * Not a test file; jest only runs `*.test.ts`.
 */
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type { Logger, RequestView } from '@tokenwarden/core';

/** What a test request is made of; everything optional. */
export interface ViewInit {
  readonly method?: string;
  readonly path?: string;
  readonly url?: string;
  readonly route?: string;
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  readonly cookies?: Readonly<Record<string, string>>;
  readonly params?: Readonly<Record<string, string>>;
  readonly ip?: string;
}

/** A plain {@link RequestView}, as an adapter would build it. */
export function view(init: ViewInit = {}): RequestView {
  const path = init.path ?? '/customers/42';
  const headers = new Map<string, readonly string[]>();
  for (const [name, value] of Object.entries(init.headers ?? {})) {
    headers.set(name.toLowerCase(), typeof value === 'string' ? [value] : value);
  }
  const cookies = init.cookies;
  const params = init.params;
  return {
    method: init.method ?? 'GET',
    path,
    url: init.url ?? path,
    ...(init.route !== undefined ? { route: init.route } : {}),
    ...(init.ip !== undefined ? { ip: init.ip } : {}),
    headerValues: (name) => headers.get(name),
    ...(cookies ? { cookie: (name: string) => cookies[name] } : {}),
    ...(params ? { param: (name: string) => params[name] } : {}),
  };
}

/** A request carrying `Authorization: Bearer <token>`. */
export function bearer(token: string, init: ViewInit = {}): RequestView {
  return view({ ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
}

/** base64url of raw bytes or of a value's JSON (a string is taken as raw JSON text). */
export function b64(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64url');
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** Signs `header.payload` with the given signer; the segments may be values or ready strings. */
export function compact(
  header: unknown,
  payload: unknown,
  signer: (signingInput: string) => string,
): string {
  const h = typeof header === 'string' ? header : b64(header);
  const p = typeof payload === 'string' ? payload : b64(payload);
  return `${h}.${p}.${signer(`${h}.${p}`)}`;
}

/** HMAC-SHA256 signer with any secret (including, for key-confusion tests, a PEM string). */
export function hs256(secret: string | Buffer): (input: string) => string {
  return (input) => createHmac('sha256', secret).update(input).digest('base64url');
}

/** RSASSA-PKCS1-v1_5 SHA-256 signer. */
export function rs256(privateKey: KeyObject): (input: string) => string {
  return (input) => cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url');
}

/** Standard valid claims at `nowMs`, with overrides (`undefined` removes a claim). */
export function claimsAt(
  nowMs: number,
  overrides: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  const iat = Math.floor(nowMs / 1000);
  const out: Record<string, unknown> = {
    iss: 'https://issuer.test/',
    aud: 'tokenwarden-test-api',
    sub: 'subject-7f3a9c',
    jti: 'jti-5be1d0a4',
    iat,
    exp: iat + 300,
    scope: 'customers:read',
    client_id: 'web-app',
    ...overrides,
  };
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

/** A logger that keeps what it is given, so tests stay quiet and can assert on it. */
export function memoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (message) => void lines.push(`warn: ${message}`),
    error: (message) => void lines.push(`error: ${message}`),
  };
}

/** The value of one sample line in Prometheus text, or undefined when absent. */
export function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
