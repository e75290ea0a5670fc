import type { Principal, Warden } from '@tokenwarden/core';
import { PURPOSES } from './warden-options';

/** What a consent change answers: a status and a JSON body. */
export interface ConsentAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * What a grant may carry in its JSON body to prove itself: the notice shown
 * (`privacy-notice@2026-03` or `sha256:<hex>` of its text) and a reference to the evidence.
 */
export function consentProof(body: unknown): { notice?: string; evidence?: string } {
  if (body === null || typeof body !== 'object') return {};
  const { notice, evidence } = body as Record<string, unknown>;
  return {
    ...(typeof notice === 'string' ? { notice } : {}),
    ...(typeof evidence === 'string' ? { evidence } : {}),
  };
}

/**
 * The privacy portal records what a customer decides (GDPR Art. 7(1): proof of consent): a grant
 * or a withdrawal of `purpose` for customer `id`, made by `actor`, audited by the warden. A grant
 * keeps the notice and evidence of its body (see {@link consentProof}).
 */
export async function changeConsent(
  warden: Warden,
  change: 'grant' | 'withdraw',
  id: string,
  purpose: string,
  actor: Principal | undefined,
  body?: unknown,
): Promise<ConsentAnswer> {
  if (!Object.hasOwn(PURPOSES, purpose)) {
    return {
      status: 400,
      body: { error: `unknown purpose; use ${Object.keys(PURPOSES).join(', ')}` },
    };
  }
  const input = {
    subject: id,
    purpose,
    source: actor?.client ?? 'unknown-client',
    ...(actor?.subject !== undefined ? { actor: actor.subject } : {}),
  };
  try {
    const record =
      change === 'grant'
        ? await warden.grantConsent({ ...input, ...consentProof(body) })
        : await warden.withdrawConsent(input);
    return { status: 200, body: record };
  } catch (error) {
    // A malformed notice: the caller's mistake, said as the warden says it.
    if (error instanceof TypeError) return { status: 400, body: { error: error.message } };
    throw error;
  }
}
