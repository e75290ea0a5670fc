import type { StoreSnapshot } from '../store/types';

/**
 * True when a token must be refused: its id is revoked, or it was issued at or before the
 * not-before mark of its subject, its client or the whole deployment. `iat` has whole-second
 * precision, so a token issued in the same second as a mark counts as issued before it.
 */
export function isRevoked(snapshot: StoreSnapshot, issuedAt: number): boolean {
  if (snapshot.tokenRevoked) return true;
  const { subject, client, all } = snapshot.notBefore;
  return (
    (subject !== undefined && issuedAt <= subject) ||
    (client !== undefined && issuedAt <= client) ||
    (all !== undefined && issuedAt <= all)
  );
}
