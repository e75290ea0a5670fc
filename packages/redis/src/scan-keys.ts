import type { Cluster, Redis } from 'ioredis';

/** `text` as a glob that matches it literally (SCAN MATCH): its glob characters escaped. */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Every key of `pattern` on every master (one node, or each master of a Cluster). */
export async function* scanKeys(client: Redis | Cluster, pattern: string): AsyncGenerator<string> {
  const nodes: Redis[] = 'nodes' in client ? client.nodes('master') : [client];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      yield* keys;
    } while (cursor !== '0');
  }
}

/** A live mark (or revoked id) entry, or `undefined` once expired or half-written. */
export function liveMark(
  fields: Record<string, string>,
  now: number,
): { at: number; until: number } | undefined {
  const at = Number(fields['at']);
  const until = Number(fields['until']);
  if (!Number.isSafeInteger(at) || !Number.isSafeInteger(until) || until <= now) return undefined;
  return { at, until };
}
