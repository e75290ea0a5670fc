import { afterEach, describe, expect, it } from '@jest/globals';
import {
  callerKey,
  DpopVerifier,
  MemoryReplayCache,
  type DpopCheckInput,
  type DpopOptions,
} from '@tokenwarden/core/internal';
import { dpopClientKey, dpopProof, type DpopClientKey } from '@tokenwarden/testing';

const URL_ = 'https://api.example.com/orders';
const TOKEN = 'at.for.dpop';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0)) await item.close();
});

function setup(options: DpopOptions = {}) {
  const replayCache = new MemoryReplayCache({ maxEntries: 10, maxEntriesPerCaller: 2 });
  const verifier = new DpopVerifier({ replayCache, ...options });
  open.push(replayCache, verifier);
  const input = (key: DpopClientKey, caller?: string, proof?: string): DpopCheckInput => ({
    scheme: 'dpop',
    accessToken: TOKEN,
    claims: { cnf: { jkt: key.jkt } },
    proofs: [proof ?? dpopProof(key, { htm: 'GET', htu: URL_, accessToken: TOKEN })],
    method: 'GET',
    url: URL_,
    ...(caller === undefined ? {} : { caller }),
  });
  return { replayCache, verifier, input };
}

describe('DpopVerifier: a caller past its share of the replay cache', () => {
  it('is refused with 429 dpop_proof_limit_exceeded and Retry-After; other callers are not', async () => {
    const { verifier, input, replayCache } = setup();
    const flooder = dpopClientKey();
    const caller = callerKey('flood-client', 'flood-client');
    for (let i = 0; i < 2; i++) {
      expect(await verifier.check(input(flooder, caller))).toMatchObject({ ok: true });
    }
    const refused = await verifier.check(input(flooder, caller));
    expect(refused).toEqual({
      ok: false,
      failure: {
        code: 'dpop_proof_limit_exceeded',
        detail: "the caller's share of the DPoP replay cache is full",
        status: 429,
        // The first proof is remembered for maxAgeMs + clockToleranceMs (305 s).
        headers: { 'retry-after': expect.stringMatching(/^30[0-5]$/) },
      },
    });
    // Another client (or another user of the same client) still gets through.
    const other = dpopClientKey();
    expect(await verifier.check(input(other, callerKey('web-app', 'alice')))).toMatchObject({
      ok: true,
    });
    expect(await verifier.check(input(other, callerKey('flood-client', 'bob')))).toMatchObject({
      ok: true,
    });
    expect(replayCache.sizeOf(caller)).toBe(2);
  });

  it('is refused before its proof is even verified, until its share can have room', async () => {
    const { verifier, input } = setup();
    const flooder = dpopClientKey();
    const caller = callerKey('flood-client', 'flood-client');
    for (let i = 0; i < 3; i++) await verifier.check(input(flooder, caller));
    // A proof with a broken signature gets the same 429: the caller is known to be full.
    const good = dpopProof(flooder, { htm: 'GET', htu: URL_, accessToken: TOKEN });
    const broken = `${good.slice(0, -4)}AAAA`;
    expect(await verifier.check(input(flooder, caller, broken))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_proof_limit_exceeded', status: 429 },
    });
    // Another caller's broken proof is still checked and refused as invalid.
    expect(
      await verifier.check(input(flooder, callerKey('web-app', 'alice'), broken)),
    ).toMatchObject({ ok: false, failure: { code: 'dpop_proof_invalid' } });
  });

  it('is refused in fail-open mode too: a full share is no outage', async () => {
    const { verifier, input } = setup({ replayFailMode: 'open' });
    const flooder = dpopClientKey();
    for (let i = 0; i < 2; i++) await verifier.check(input(flooder, 'flooder'));
    expect(await verifier.check(input(flooder, 'flooder'))).toMatchObject({
      ok: false,
      failure: { code: 'dpop_proof_limit_exceeded' },
    });
  });

  it('without a caller, each proof key has its own share', async () => {
    const { verifier, input, replayCache } = setup();
    const a = dpopClientKey();
    const b = dpopClientKey();
    for (let i = 0; i < 2; i++) await verifier.check(input(a));
    expect(await verifier.check(input(a))).toMatchObject({
      failure: { code: 'dpop_proof_limit_exceeded' },
    });
    expect(await verifier.check(input(b))).toMatchObject({ ok: true });
    expect(replayCache.sizeOf(a.jkt)).toBe(2);
  });
});
