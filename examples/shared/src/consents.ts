import type { Principal, Warden } from '@tokenwarden/core';
import { PURPOSES } from './warden-options';

/** What a consent change answers: a status and a JSON body. */
export interface ConsentAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * The privacy portal records what a customer decides (GDPR Art. 7(1): proof of consent): a grant
 * or a withdrawal of `purpose` for customer `id`, made by `actor`, audited by the warden.
 */
export async function changeConsent(
  warden: Warden,
  change: 'grant' | 'withdraw',
  id: string,
  purpose: string,
  actor: Principal | undefined,
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
  const record =
    change === 'grant' ? await warden.grantConsent(input) : await warden.withdrawConsent(input);
  return { status: 200, body: record };
}
