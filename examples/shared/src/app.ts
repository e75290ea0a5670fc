import { type AuditSink, type WardenOptions, type WardenStore } from '@tokenwarden/core';
import { DemoIssuer, demoSecret } from './issuer';
import { demoTokenService, type DemoClient, type DemoTokenService } from './token-service';
import { demoWardenOptions } from './warden-options';

/** Options of the Express and Koa examples' `createApp`. */
export interface DemoAppOptions {
  /** Where revocations and consent live. Default: the embedded MemoryStore. */
  store?: WardenStore;
  /** HS256 secret of the demo issuer. Default: DEMO_JWT_SECRET, else 32 random bytes. */
  secret?: Buffer;
  /**
   * Where audit events go. Default: none named, so the warden's default: one JSON line per
   * event on standard output. Tests pass a `MemorySink` to read the events.
   */
  sinks?: AuditSink[];
  /** Mount POST /demo/token, which mints tokens for anyone. Never in production. Default: true. */
  demoTokens?: boolean;
}

/** What the Express and Koa examples' `createApp` returns. */
export interface DemoApp<App, Middleware> {
  app: App;
  tw: Middleware;
  /** Mints a token as the token endpoint would, for a client of the policy. */
  issue(subject: string, scopes: string[], client?: string): string;
  /** Credentials of the support console, for POST /oauth/token. */
  tokenClient: DemoClient;
}

/** What `createApp` builds before its routes: the demo issuer and the warden options. */
export interface DemoAppParts {
  readonly issuer: DemoIssuer;
  readonly wardenOptions: WardenOptions;
  /**
   * Token issuance from the policy: POST /oauth/token and GET /.well-known/jwks.json. Its
   * `policy` is tokenwarden.policy.yaml, which the warden options enforce route by route.
   */
  readonly tokens: DemoTokenService;
  /** Credentials of the support console, for POST /oauth/token. */
  readonly tokenClient: DemoClient;
  /** Mints a token for a client of the policy (default: the support console). */
  issue(subject: string, scopes: string[], client?: string): string;
}

export function demoAppParts(options: DemoAppOptions): DemoAppParts {
  const issuer = new DemoIssuer(options.secret ?? demoSecret());
  const tokens = demoTokenService();
  return {
    issuer,
    tokens,
    tokenClient: tokens.clients['support-console'] as DemoClient,
    wardenOptions: demoWardenOptions({
      secret: issuer.secret,
      store: options.store,
      sinks: options.sinks,
      tokenKeys: [tokens.verificationKey],
      policy: tokens.policy,
    }),
    issue: (subject, scopes, client = 'support-console') =>
      tokens.issuer.issue({ client, subject, scopes }).token,
  };
}
