/**
 * How a ring checks a loaded key set against the keys it holds: every new key is checked as key
 * material, a key it already holds keeps its fixed fields, and a set under the same revision is
 * the same set.
 */
import type { KeyObject } from 'node:crypto';
import { toRingKey, type RingKey } from '../verify/key-ring';
import { checkKeyMaterial, SigningKeyError, stableJson } from './signing-key-integrity';
import type { SigningKeySet, StoredSigningKey } from './signing-keys';

/** A stored key as a ring holds it: its metadata, its verification key and the key that signs. */
export interface LoadedKey {
  readonly stored: StoredSigningKey;
  readonly ring: RingKey;
  readonly private: KeyObject;
}

/**
 * The keys of a set by kid, each checked against its metadata and against the key `held` under
 * its kid; builds verification keys only for kids not held before.
 *
 * @throws SigningKeyError (`malformed` or `tampered`) naming the key id, never the key.
 */
export function loadedKeysOf(
  set: SigningKeySet,
  held: ReadonlyMap<string, LoadedKey>,
): Map<string, LoadedKey> {
  if (!Array.isArray(set.keys)) {
    throw new SigningKeyError('malformed', 'the stored signing key set has no list of keys');
  }
  const next = new Map<string, LoadedKey>();
  for (const stored of set.keys) {
    const where = `stored signing key '${String(stored?.kid)}'`;
    if (next.has(stored?.kid)) throw new SigningKeyError('tampered', `${where} appears twice`);
    const known = held.get(stored?.kid);
    if (known) {
      const changed = changedIdentity(known.stored, stored);
      if (changed !== undefined) {
        throw new SigningKeyError('tampered', `${where} changed its ${changed}`);
      }
      next.set(stored.kid, { ...known, stored });
      continue;
    }
    const key = checkKeyMaterial(stored);
    let ring: RingKey;
    try {
      ring = toRingKey({ kid: stored.kid, alg: stored.alg, key }, [stored.alg]);
    } catch {
      throw new SigningKeyError('tampered', `${where} is not a usable ${stored.alg} key`);
    }
    next.set(stored.kid, { stored, ring, private: key });
  }
  return next;
}

/**
 * The first of a key's fixed fields (algorithm, secret, public key, creation and activation
 * times) that differs in `next`; undefined when none does. Only `verifyUntil` may change: a
 * rotation sets (or, replacing a key that never signed, moves) it.
 */
export function changedIdentity(
  held: StoredSigningKey,
  next: StoredSigningKey,
): string | undefined {
  if (held.alg !== next.alg) return 'algorithm';
  if (held.secret !== next.secret) return 'secret';
  if (held.createdAt !== next.createdAt) return 'creation time';
  if (held.activeFrom !== next.activeFrom) return 'activation time';
  if (stableJson(held.publicJwk) !== stableJson(next.publicJwk)) return 'public key';
  return undefined;
}

/** True when two sets hold the same settings and the same keys, in the same order. */
export function sameSet(a: SigningKeySet, b: SigningKeySet): boolean {
  return (
    stableJson(a.settings) === stableJson(b.settings) &&
    a.keys.length === b.keys.length &&
    a.keys.every(
      (key, i) =>
        changedIdentity(key, b.keys[i]!) === undefined &&
        key.kid === b.keys[i]!.kid &&
        key.verifyUntil === b.keys[i]!.verifyUntil,
    )
  );
}
