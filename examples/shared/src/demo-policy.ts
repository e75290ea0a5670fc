import type { Policy } from '@tokenwarden/core/policy';

/**
 * The examples' policy as an app serves it: without `POST /demo/token` when the demo token route
 * is not mounted (`demoTokens: false`), so the start-up drift check finds no rule without a
 * handler.
 */
export function servedPolicy(policy: Policy, demoTokens: boolean): Policy {
  if (demoTokens) return policy;
  const routes = (policy.routes ?? []).filter(
    (r) => !(r.method === 'POST' && r.path === '/demo/token'),
  );
  return { ...policy, routes };
}
