/**
 * The trail of a million events that the million-event report tests read: one JSON-lines file
 * written with plain string writes and the real chain hash (so the chain verifies), and the
 * generator each figure's truth is computed from. Not a test file.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';

export const EVENTS = 1_000_000;
export const TOKENS = 50_000;
export const CUSTOMERS = 20_000;
export const LEAKED = 777;
export const T0 = Date.UTC(2030, 0, 1);
export const STEP_MS = 100;
export const CLIENTS = ['crm', 'support-console', 'batch'];
export const ROUTES = [
  ['GET', '/customers/:id', 'customers:read'],
  ['GET', '/orders/:id', 'orders:read'],
] as const;

/** The policy the trail is read with. */
export const MILLION_POLICY_TEXT = [
  'version: 1',
  'issuer: https://api.example.test/',
  'audience: customers-api',
  'scopes:',
  '  customers:read: { description: Read customers, dataCategories: [contact_details] }',
  '  orders:read: { description: Read orders, dataCategories: [purchase_history] }',
  '  customers:write: { description: Change customers, dataCategories: [contact_details] }',
  'purposes:',
  '  order_fulfilment: { description: Orders, lawfulBasis: contract }',
  'clients:',
  '  crm: { scopes: [customers:read, orders:read, customers:write] }',
  '  support-console: { scopes: [customers:read, orders:read] }',
  '  batch: { scopes: [orders:read] }',
  'routes:',
  '  - { route: GET /customers/:id, scopes: [customers:read], purpose: order_fulfilment }',
  '  - { route: GET /orders/:id, scopes: [orders:read], purpose: order_fulfilment }',
  '  - { route: PUT /customers/:id, scopes: [customers:write], lawfulBasis: contract }',
].join('\n');

/** Event i: token i mod TOKENS (client token mod 3), route and customer spread, every 13th denied. */
export function fields(i: number) {
  const token = i % TOKENS;
  const route = ROUTES[Math.floor(i / TOKENS) % 2]!;
  return {
    token,
    client: CLIENTS[token % 3]!,
    route,
    allow: i % 13 !== 0,
    customer: Math.floor(i / 7) % CUSTOMERS,
    time: T0 + i * STEP_MS,
  };
}

/** Writes the trail to `file`; resolves the ms it took. */
export function writeTrail(file: string): number {
  const fd = openSync(file, 'w');
  let prev: string | undefined;
  let buffer = '';
  const started = Date.now();
  for (let i = 1; i <= EVENTS; i++) {
    const f = fields(i);
    // The canonical serialisation, fields in the chain's order.
    const canonical =
      `{"schemaVersion":2,"id":"node-1/${i}","time":"${new Date(f.time).toISOString()}","producer":"node-1","seq":${i},` +
      `"type":"access.decision","outcome":"${f.allow ? 'allow' : 'deny'}","reason":"${f.allow ? 'authorized' : 'insufficient_scope'}",` +
      `"tokenId":"t-${f.token}","subject":"agent-${f.token % 100}","client":"${f.client}","scopes":["customers:read","orders:read"],` +
      `"route":"${f.route[1]}","method":"${f.route[0]}","status":${f.allow ? 200 : 403},"dataSubject":"c-${f.customer}",` +
      `"purpose":"order_fulfilment","lawfulBasis":"contract","clientAddress":"203.0.${f.token % 256}.0"` +
      (prev === undefined ? '' : `,"prevHash":"${prev}"`) +
      '}';
    const hash = 'sha256:' + createHash('sha256').update(canonical).digest('base64url');
    buffer += canonical.slice(0, -1) + `,"hash":"${hash}"}\n`;
    prev = hash;
    if (buffer.length > 1 << 20) {
      writeSync(fd, buffer);
      buffer = '';
    }
  }
  writeSync(fd, buffer);
  closeSync(fd);
  return Date.now() - started;
}
