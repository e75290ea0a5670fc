import { UNLISTED_ROUTE } from './exposure-uses';
import {
  activityOf,
  basisActivity,
  gaps,
  newActivity,
  recipientOf,
  type ActivityState,
  type ClientState,
} from './processing-record';
import { SecurityTally } from './processing-security';
import type { ProcessingOptions, ProcessingReport } from './processing-types';
import { CappedCounter, PolicyView, readTrail } from './read';
import type { AuditSource } from './types';

/** Most activities and clients tracked (the policy's are always kept). */
const MAX_TRACKED = 1_000;
/** Most clients listed per activity. */
const MAX_CLIENTS_PER_ACTIVITY = 1_000;

/**
 * The records of processing activities (GDPR Art. 30(1)) from the policy and one pass over the
 * audit trail: per purpose (and per lawful basis that routes name without a purpose) its lawful
 * basis, categories of data and of data subjects, recipients (clients) and retention, with the use
 * the trail shows over the period (accesses, distinct data subjects, clients, refusals, consent);
 * the recipients with their country; the security measures Tokenwarden enforces, configured and
 * observed; and what the policy does not state, for the controller to complete. Memory holds
 * aggregates and, per activity, the set of data subject ids (exact up to `maxDataSubjects`).
 *
 * @example
 * const record = await processingReport(new JsonLinesSource({ path: 'audit/' }), {
 *   policy: loadPolicyFile('tokenwarden.policy.yaml'),
 *   since: Date.parse('2030-01-01T00:00:00Z'),
 * });
 */
export async function processingReport(
  source: AuditSource,
  options: ProcessingOptions,
): Promise<ProcessingReport> {
  const policy = options.policy;
  const view = new PolicyView(policy);
  const maxSubjects = options.maxDataSubjects ?? 1_000_000;
  const activities = new Map<string, ActivityState>();
  const clients = new Map<string, ClientState>();
  const unattributed = new CappedCounter(MAX_TRACKED);
  let unattributedAllowed = 0;
  const security = new SecurityTally(policy);

  const activity = (name: string, purpose: string | undefined, basis: string) => {
    let a = activities.get(name);
    if (a === undefined && activities.size < MAX_TRACKED) {
      a = newActivity(purpose, basis);
      activities.set(name, a);
    }
    return a;
  };
  const client = (id: string) => {
    let c = clients.get(id);
    if (c === undefined && clients.size < MAX_TRACKED) {
      c = { allowed: 0, denied: 0, tokensIssued: 0, activities: new Set() };
      clients.set(id, c);
    }
    return c;
  };
  for (const [name, p] of Object.entries(policy.purposes)) activity(name, name, p.lawfulBasis);
  for (const r of policy.routes ?? []) {
    if (r.purpose === undefined && r.lawfulBasis !== undefined) {
      activity(basisActivity(r.lawfulBasis), undefined, r.lawfulBasis);
    }
  }
  for (const id of Object.keys(policy.clients)) client(id);

  const header = await readTrail(source, options, policy, (event, time) => {
    security.add(event);
    if (event.type === 'token.issued') {
      if (event.outcome === 'success' && event.detail?.tokenType !== 'refresh' && event.client) {
        const c = client(event.client);
        if (c) c.tokensIssued += 1;
      }
      return;
    }
    if (event.type.startsWith('consent.')) {
      if (event.outcome !== 'success' || event.purpose === undefined) return;
      const basis = policy.purposes[event.purpose]?.lawfulBasis ?? 'consent';
      const a = activity(event.purpose, event.purpose, basis);
      if (a === undefined) return;
      if (event.type === 'consent.granted') a.consent.granted += 1;
      else if (event.type === 'consent.withdrawn') a.consent.withdrawn += 1;
      else if (event.type === 'consent.expired') a.consent.expired += 1;
      return;
    }
    if (event.type !== 'access.decision' || event.reason === 'public_route') return;
    const ok = event.outcome === 'allow';
    const route = view.route(event.method, event.route);
    const purpose = event.purpose ?? route?.purpose;
    const basis =
      event.lawfulBasis ??
      route?.lawfulBasis ??
      (purpose === undefined ? undefined : policy.purposes[purpose]?.lawfulBasis);
    const categories = route === undefined ? [UNLISTED_ROUTE] : view.categoriesOf(route.scopes);
    const name =
      purpose !== undefined ? purpose : basis !== undefined ? basisActivity(basis) : undefined;
    if (event.client !== undefined) {
      const c = client(event.client);
      if (c) {
        if (ok) c.allowed += 1;
        else c.denied += 1;
        if (c.first === undefined || time < c.first) c.first = time;
        if (c.last === undefined || time > c.last) c.last = time;
        if (ok && name !== undefined && c.activities.size < MAX_TRACKED) c.activities.add(name);
      }
    }
    if (name === undefined) {
      if (ok && categories.length > 0) {
        unattributedAllowed += 1;
        unattributed.add(`${event.method ?? ''} ${event.route ?? ''}`.trim());
      }
      return;
    }
    const a = activity(name, purpose, basis ?? 'consent');
    if (a === undefined) return;
    a.accesses += 1;
    if (a.first === undefined || time < a.first) a.first = time;
    if (a.last === undefined || time > a.last) a.last = time;
    const byClient = event.client ?? '(unknown client)';
    let perClient = a.clients.get(byClient);
    if (perClient === undefined && a.clients.size < MAX_CLIENTS_PER_ACTIVITY) {
      perClient = { allowed: 0, denied: 0 };
      a.clients.set(byClient, perClient);
    }
    if (!ok) {
      if (perClient) perClient.denied += 1;
      a.denials.add(event.reason ?? '(none)');
      return;
    }
    a.allowed += 1;
    if (perClient) perClient.allowed += 1;
    for (const c of categories) a.categories.add(c);
    const subject = event.dataSubject;
    if (subject === undefined) {
      if (categories.length > 0) a.withoutSubject += 1;
    } else if (!a.subjects.has(subject)) {
      if (a.subjects.size < maxSubjects) a.subjects.add(subject);
      else a.subjectsOverflow = true;
    }
  });

  const acts = [...activities.entries()]
    .map(([name, a]) => activityOf(name, a, policy, view))
    .sort((x, y) => Number(y.inPolicy) - Number(x.inPolicy) || (x.name < y.name ? -1 : 1));
  const recipients = [...clients.entries()]
    .map(([id, c]) => recipientOf(id, c, policy, view, acts))
    .sort((x, y) => Number(y.inPolicy) - Number(x.inPolicy) || (x.client < y.client ? -1 : 1));
  const routesWithoutBasis = (policy.routes ?? [])
    .filter(
      (r) =>
        r.purpose === undefined &&
        r.lawfulBasis === undefined &&
        view.categoriesOf(r.scopes).length > 0,
    )
    .map((r) => PolicyView.label(r));
  const controller = policy.controller;

  return {
    kind: 'processing',
    ...header,
    controller: {
      ...(controller?.name !== undefined ? { name: controller.name } : {}),
      ...(controller?.contact !== undefined ? { contact: controller.contact } : {}),
      ...(controller?.dpo !== undefined ? { dpo: controller.dpo } : {}),
    },
    activities: acts,
    recipients,
    security: security.result(header),
    unattributed: {
      allowed: unattributedAllowed,
      routes: unattributed.entries().map(({ key, count }) => ({ route: key, allowed: count })),
    },
    routesWithoutBasis,
    toComplete: gaps(policy, acts, recipients, routesWithoutBasis),
  };
}
