import { isSafeId } from '../internal/text';
import type { SubjectResolver } from '../policy/requirement';
import type { RequestView } from '../request';
import type { VerifiedToken } from '../verify/jwt';

/** The data subject a route names (default: the token's subject), if it is a safe id. */
export function resolveDataSubject(
  resolver: SubjectResolver | undefined,
  view: RequestView,
  token: VerifiedToken | undefined,
  maxLength: number,
): string | undefined {
  let subject: string | undefined;
  try {
    subject = resolver ? resolver(view) : token?.subject;
  } catch {
    return undefined;
  }
  return isSafeId(subject, maxLength) ? subject : undefined;
}

/** True when a header map has at least one entry (without allocating a key list). */
export function hasAny(headers: Readonly<Record<string, string>>): boolean {
  for (const _ in headers) return true;
  return false;
}
