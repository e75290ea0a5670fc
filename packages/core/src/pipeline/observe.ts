import type { WardenMetrics } from '../metrics/types';
import { API_KEY_ISSUER } from '../verify/api-key';
import type { RequestContext } from './context';

/** Records what the stages of one phase observed; the runner calls it when the phase ends. */
export function observe(ctx: RequestContext, metrics: WardenMetrics): void {
  const token = ctx.verified;
  if (ctx.phase === 'begin' && token !== undefined && token.issuer !== API_KEY_ISSUER) {
    // API keys live for days and are not tokens in these histograms' sense.
    metrics.tokenAge(Math.max(0, (ctx.now - token.issuedAt) / 1000));
    metrics.tokenLifetime((token.expiresAt - token.issuedAt) / 1000);
  }
  if (ctx.tokenCache !== undefined) metrics.cacheLookup('token', ctx.tokenCache);
  if (ctx.dpop !== undefined) metrics.dpopCheck(ctx.dpop);
  if (ctx.stateLoss !== undefined) metrics.storeStateLost(ctx.stateLoss === 'lost');
  const limits = ctx.limits;
  if (limits !== undefined) {
    if (limits.outcome === 'allow') {
      for (const state of limits.states) metrics.usageLimit(state.rule, 'allow');
    } else if (limits.outcome === 'limited') {
      metrics.usageLimit(limits.rule, 'limited');
    } else {
      metrics.usageLimit('any', 'unavailable');
    }
  }
  if (ctx.scope !== undefined) metrics.scopeCheck(ctx.scope);
  const consent = ctx.consent;
  if (consent !== undefined) {
    const pass = consent === 'pass';
    metrics.consentCheck(ctx.consentPurpose!, pass ? 'pass' : 'fail', pass ? 'granted' : consent);
  }
}
