import { describe, expect, it } from '@jest/globals';
import {
  MemoryStore,
  StoreStateLostError,
  type StoreSnapshot,
  type WardenStore,
} from '@tokenwarden/core';
import { StateStage } from '../../src/pipeline/stages/state';
import type { RequestContext } from '../../src/pipeline/context';
import type { VerifiedToken } from '../../src/verify/jwt';
import { view } from '../support';
import { context, denials, routeStep } from './support';

const NOW = Date.now();

function token(overrides: Partial<VerifiedToken> = {}): VerifiedToken {
  return {
    tokenId: 'jti-1',
    subject: 'user-1',
    client: 'web-app',
    issuer: 'https://issuer.test/',
    scopes: ['customers:read'],
    issuedAt: NOW - 1_000,
    expiresAt: NOW + 60_000,
    kid: 'hs-1',
    claims: {},
    ...overrides,
  };
}

function verified(ctx: RequestContext, overrides: Partial<VerifiedToken> = {}): RequestContext {
  ctx.verified = token(overrides);
  return ctx;
}

const logged: string[] = [];
const log = (message: string) => void logged.push(message);

async function settle<T>(value: T | Promise<T>): Promise<T> {
  return value instanceof Promise ? await value : value;
}

describe('StateStage alone', () => {
  it('answers from memory without a promise, and refuses a revoked token id', async () => {
    const store = new MemoryStore();
    const stage = new StateStage(store, denials, 256, log);
    const ctx = verified(context(view()));
    const outcome = stage.run(ctx);
    expect(outcome).toBeUndefined();
    expect(ctx.storeOperation).toBe('lookup');
    await store.revokeToken('jti-1', NOW + 60_000);
    expect(stage.run(verified(context(view())))).toMatchObject({ code: 'token_revoked' });
  });

  it('refuses tokens issued before a subject, client or global not-before mark', async () => {
    for (const scope of ['subject', 'client', 'all'] as const) {
      const store = new MemoryStore();
      const id = scope === 'subject' ? 'user-1' : scope === 'client' ? 'web-app' : '*';
      await store.setNotBefore(scope, id, NOW, NOW + 60_000);
      const stage = new StateStage(store, denials, 256, log);
      expect(await settle(stage.run(verified(context(view()))))).toMatchObject({
        code: 'token_revoked',
      });
      // A token issued after the mark passes.
      const later = verified(context(view()), { issuedAt: NOW + 1_000 });
      expect(await settle(stage.run(later))).toBeUndefined();
    }
  });

  it('reads the consent record of the route in the same lookup', async () => {
    const store = new MemoryStore();
    await store.grantConsent({ subject: 'user-9', purpose: 'marketing', grantedAt: NOW - 5_000 });
    const stage = new StateStage(store, denials, 256, log);
    const ctx = verified(
      context(view({ params: { id: 'user-9' } }), {
        consent: { purpose: 'marketing', subject: { param: 'id' } },
      }),
    );
    expect(await settle(stage.run(ctx))).toBeUndefined();
    expect(ctx.consentTarget).toBe('user-9');
    expect(ctx.snapshot?.consent).toMatchObject({ subject: 'user-9', purpose: 'marketing' });
  });

  it('fails closed when the store fails, and says so once', async () => {
    const failing = {
      lookup: (): Promise<StoreSnapshot> => Promise.reject(new Error('connection refused')),
    } as unknown as WardenStore;
    logged.length = 0;
    const stage = new StateStage(failing, denials, 256, log);
    const ctx = verified(context(view()));
    const outcome = stage.run(ctx);
    expect(outcome).toBeInstanceOf(Promise);
    expect(await outcome).toMatchObject({ code: 'store_unavailable', status: 503 });
    expect(ctx.storeFailed).toBe(true);
    expect(logged).toEqual([expect.stringContaining('store lookup failed')]);
  });

  it('on a route step reads only that step’s consent record', async () => {
    const store = new MemoryStore();
    const stage = new StateStage(store, denials, 256, log);
    const ctx = routeStep(verified(context(view())), { consent: { purpose: 'research' } });
    expect(await settle(stage.run(ctx))).toBeUndefined();
    expect(ctx.storeOperation).toBe('consent');
    expect(ctx.consentTarget).toBe('user-1');
    expect(ctx.snapshot?.consent).toBeUndefined();
  });

  describe('a store whose state was lost', () => {
    /** A memory store that refuses every read as a store that lost its state does, while `lost`. */
    class LosingStore extends MemoryStore {
      lost = false;
      override lookup(query: Parameters<MemoryStore['lookup']>[0]): Promise<StoreSnapshot> {
        return this.lost ? this.refuse() : super.lookup(query);
      }
      override getConsent(subject: string, purpose: string) {
        return this.lost ? this.refuse() : super.getConsent(subject, purpose);
      }
      private refuse(): Promise<never> {
        return Promise.reject(
          new StoreStateLostError('the epoch is gone', { reason: 'lost', since: NOW }),
        );
      }
    }

    it('refuses with 503 store_state_lost, logs and observes the loss once, and the return once', async () => {
      const store = new LosingStore();
      const errors: string[] = [];
      const warnings: string[] = [];
      const stage = new StateStage(
        store,
        denials,
        256,
        (message) => void errors.push(message),
        (message) => void warnings.push(message),
      );
      await store.revokeToken('jti-1', NOW + 60_000);
      store.lost = true;
      const first = verified(context(view()));
      const refused = await settle(stage.run(first));
      expect(refused).toMatchObject({ code: 'store_state_lost', status: 503 });
      expect(refused?.headers['retry-after']).toBe('1');
      expect(first.stateLoss).toBe('lost');
      // A loss is not a failing store: the store answered.
      expect(first.storeFailed).toBe(false);
      const second = verified(context(view()), { tokenId: 'other' });
      expect(await settle(stage.run(second))).toMatchObject({ code: 'store_state_lost' });
      expect(second.stateLoss).toBeUndefined();
      expect(errors).toEqual([expect.stringContaining('store state lost')]);

      store.lost = false;
      const back = verified(context(view()));
      // The revocation is in force again: the state came back with the store.
      expect(await settle(stage.run(back))).toMatchObject({ code: 'token_revoked' });
      expect(back.stateLoss).toBe('restored');
      const next = verified(context(view()), { tokenId: 'other' });
      expect(await settle(stage.run(next))).toBeUndefined();
      expect(next.stateLoss).toBeUndefined();
      expect(warnings).toEqual([expect.stringContaining('current again')]);
      expect(errors).toHaveLength(1);
    });

    it('refuses a route step whose consent record cannot be read from a lost state', async () => {
      const store = new LosingStore();
      const stage = new StateStage(store, denials, 256, log);
      store.lost = true;
      const ctx = routeStep(verified(context(view())), { consent: { purpose: 'research' } });
      expect(await settle(stage.run(ctx))).toMatchObject({ code: 'store_state_lost', status: 503 });
      expect(ctx.stateLoss).toBe('lost');
      store.lost = false;
      const after = routeStep(verified(context(view())), { consent: { purpose: 'research' } });
      expect(await settle(stage.run(after))).toBeUndefined();
      expect(after.stateLoss).toBe('restored');
    });
  });
});
