import { afterAll, describe, expect, it, jest } from '@jest/globals';
import { ConfigError, TokenwardenDenial, TokenwardenError } from '@tokenwarden/core';
import {
  createWarden,
  denyHandler,
  ON_DENY,
  routeStepNow,
  standaloneSteps,
  throwDenial,
  withRouteSteps,
  type Requirement,
  type Warden,
} from '@tokenwarden/core/internal';
import { testJwtOptions } from '@tokenwarden/testing';
import { deny } from '../../src/decision';

/** A fake adapter: its steps record the requirement and the warden they were made with. */
function fakeAdapter() {
  type Made = { requirement: Requirement; warden: Warden | undefined };
  const step = (requirement: Requirement, warden: Warden | undefined): Made => ({
    requirement,
    warden,
  });
  const metrics = (): Made => ({ requirement: {}, warden: undefined });
  return {
    standalone: standaloneSteps(step),
    tokenwarden: (warden: Warden) =>
      withRouteSteps<Made>(step({}, warden), warden, step, metrics, metrics),
  };
}

const wardenWith = (purposes: string[]) =>
  createWarden({
    jwt: testJwtOptions(),
    purposes,
    audit: false,
    logger: { warn() {}, error() {} },
  });

describe('standalone route steps are checked at start-up', () => {
  it('against the wardens made before them: a typo throws ConfigError at once', async () => {
    const adapter = fakeAdapter();
    const warden = wardenWith(['marketing']);
    adapter.tokenwarden(warden);
    expect(() => adapter.standalone.requireConsent('marketting')).toThrow(ConfigError);
    expect(() => adapter.standalone.requireConsent('marketting')).toThrow(
      /requireConsent: purpose 'marketting' is not declared/,
    );
    expect(adapter.standalone.requireConsent('marketing')).toMatchObject({ warden: undefined });
    expect(() => adapter.standalone.requireAnyScope()).toThrow(/at least one scope/);
    await warden.close();
  });

  it('against the next warden made, for steps made before any', async () => {
    const adapter = fakeAdapter();
    adapter.standalone.requireConsent('marketing');
    adapter.standalone.requireConsent('marketting');
    const warden = wardenWith(['marketing']);
    expect(() => adapter.tokenwarden(warden)).toThrow(ConfigError);
    expect(() => adapter.tokenwarden(warden)).not.toThrow();
    await warden.close();
  });

  it('passes a step valid for one of several wardens (one process, two apps)', async () => {
    const adapter = fakeAdapter();
    const marketing = wardenWith(['marketing']);
    const billing = wardenWith(['billing']);
    adapter.tokenwarden(marketing);
    adapter.tokenwarden(billing);
    expect(() => adapter.standalone.requireConsent('billing')).not.toThrow();
    expect(() => adapter.standalone.requireConsent('research')).toThrow(ConfigError);
    await Promise.all([marketing.close(), billing.close()]);
  });

  it('keeps one registry per adapter', async () => {
    const express = fakeAdapter();
    const koa = fakeAdapter();
    const warden = wardenWith(['marketing']);
    express.tokenwarden(warden);
    // Koa has no warden yet: its step waits for Koa's next tokenwarden().
    expect(() => koa.standalone.requireConsent('marketting')).not.toThrow();
    expect(() => express.standalone.requireConsent('marketting')).toThrow(ConfigError);
    expect(() => koa.tokenwarden(warden)).toThrow(/declared before tokenwarden\(\)/);
    await warden.close();
  });

  it('compiles the bound steps of a middleware against its warden', async () => {
    const warden = wardenWith(['marketing']);
    const tw = fakeAdapter().tokenwarden(warden);
    expect(tw.requireConsent('marketing')).toMatchObject({ warden });
    expect(() => tw.requireConsent('marketting')).toThrow(ConfigError);
    expect(() => tw.claimEquals('tenant', { id: 1 } as unknown as string)).toThrow(ConfigError);
    await warden.close();
  });
});

describe('denyHandler', () => {
  const modes = { next: jest.fn() };
  const warden = wardenWith([]);
  afterAll(() => warden.close());

  it("gives no handler for the default 'respond'", () => {
    expect(denyHandler(warden, undefined, modes)).toBeUndefined();
    expect(denyHandler(warden, 'respond', modes)).toBeUndefined();
  });

  it("gives the adapter's named mode or the application's function", () => {
    const own = jest.fn();
    expect(denyHandler(warden, 'next', modes)).toBe(modes.next);
    expect(denyHandler(warden, own, modes)).toBe(own);
  });

  it('refuses anything else at start-up, naming what is accepted', () => {
    expect(() => denyHandler(warden, 'throw', modes)).toThrow(
      "onDeny must be 'respond', 'next' or a function of the denial",
    );
    expect(() => denyHandler(warden, 'toString', modes)).toThrow(ConfigError);
  });

  it("hands the warden's handler to a bound step that runs the whole check", () => {
    const source: { [ON_DENY]?: unknown } = {};
    const View = class {
      method = 'GET';
      path = '/';
      url = '/';
      headerValues = () => undefined;
    };
    denyHandler(warden, 'next', modes);
    void routeStepNow(source, warden, {}, View);
    expect(source[ON_DENY]).toBe(modes.next);
    // Back to the default: nothing is handed on.
    denyHandler(warden, 'respond', modes);
    const other: { [ON_DENY]?: unknown } = {};
    void routeStepNow(other, warden, {}, View);
    expect(other[ON_DENY]).toBeUndefined();
  });
});

describe('TokenwardenDenial', () => {
  it('carries the status, code, headers and body of the denial, copied', () => {
    const decision = deny('token_expired', 'api');
    const error = new TokenwardenDenial(decision);
    expect(error).toBeInstanceOf(TokenwardenError);
    expect(error).toMatchObject({
      name: 'TokenwardenDenial',
      code: 'token_expired',
      status: 401,
      expose: true,
      message: 'The access token has expired',
      body: decision.body,
      headers: decision.headers,
    });
    expect(error.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/);
    expect(error.headers).not.toBe(decision.headers);
    expect(error.body).not.toBe(decision.body);
  });

  it('is what throwDenial throws', () => {
    const decision = deny('insufficient_scope', 'api', ['orders:read']);
    expect(() => throwDenial(decision)).toThrow(TokenwardenDenial);
  });
});
