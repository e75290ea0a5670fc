import { randomBytes } from 'node:crypto';
import type { AuditSink, WardenOptions, WardenStore } from '@tokenwarden/core';
import { AUDIENCE, ISSUER, KEY_ID } from './issuer';

/** The purposes customers can consent to; the warden refuses routes naming any other. */
export const PURPOSES = {
  marketing: { description: 'Personalised offers and newsletters' },
  order_fulfilment: { description: 'Delivering and invoicing orders' },
} as const;

/** The warden of every example: the demo issuer's HS256 key, the purposes, audit with fingerprints. */
export function demoWardenOptions(options: {
  readonly secret: Buffer;
  readonly store?: WardenStore | undefined;
  readonly sinks: readonly AuditSink[];
}): WardenOptions {
  return {
    jwt: {
      algorithms: ['HS256'],
      keys: [{ kid: KEY_ID, alg: 'HS256', key: options.secret }],
      issuer: ISSUER,
      audience: AUDIENCE,
      maxLifetimeMs: 15 * 60_000,
    },
    ...(options.store ? { store: options.store } : {}),
    purposes: PURPOSES,
    audit: { sinks: options.sinks, fingerprintKey: randomBytes(32) },
  };
}
