import {
  MemorySink,
  type AuditSink,
  type WardenOptions,
  type WardenStore,
} from '@tokenwarden/core';
import { DemoIssuer, demoSecret } from './issuer';
import { demoWardenOptions } from './warden-options';

/** Options of the Express and Koa examples' `createApp`. */
export interface DemoAppOptions {
  /** Where revocations and consent live. Default: the embedded MemoryStore. */
  store?: WardenStore;
  /** HS256 secret of the demo issuer. Default: DEMO_JWT_SECRET, else 32 random bytes. */
  secret?: Buffer;
  /** Extra audit sinks (a MemorySink is always attached and returned). */
  sinks?: AuditSink[];
  /** Mount POST /demo/token, which mints tokens for anyone. Never in production. Default: true. */
  demoTokens?: boolean;
}

/** What the Express and Koa examples' `createApp` returns. */
export interface DemoApp<App, Middleware> {
  app: App;
  tw: Middleware;
  audit: MemorySink;
  /** Mints a token as the demo issuer would. */
  issue(subject: string, scopes: string[], client?: string): string;
}

/** What `createApp` builds before its routes: the demo issuer, its audit sink, the warden options. */
export interface DemoAppParts {
  readonly issuer: DemoIssuer;
  readonly audit: MemorySink;
  readonly wardenOptions: WardenOptions;
  issue(subject: string, scopes: string[], client?: string): string;
}

export function demoAppParts(options: DemoAppOptions): DemoAppParts {
  const issuer = new DemoIssuer(options.secret ?? demoSecret());
  const audit = new MemorySink();
  const sinks = [audit, ...(options.sinks ?? [])];
  return {
    issuer,
    audit,
    wardenOptions: demoWardenOptions({ secret: issuer.secret, store: options.store, sinks }),
    issue: (subject, scopes, client) => issuer.issue(subject, scopes, client),
  };
}
