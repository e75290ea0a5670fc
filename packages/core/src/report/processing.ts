import type { Policy, PolicyRoute } from '../policy/types';
import { UNLISTED_ROUTE } from './exposure-uses';
import { SecurityTally } from './processing-security';
import type {
  ObservedProcessing,
  ProcessingActivity,
  ProcessingGap,
  ProcessingOptions,
  ProcessingRecipient,
  ProcessingReport,
} from './processing-types';
import { CappedCounter, iso, PolicyView, readTrail } from './read';
import type { AuditSource } from './types';

/** Countries of the European Economic Area (ISO 3166-1 alpha-2): no transfer under Art. 44. */
const EEA = new Set(
  (
    'AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK ' + 'IS LI NO'
  ).split(' '),
);

/** Most activities and clients tracked (the policy's are always kept). */
const MAX_TRACKED = 1_000;
/** Most clients listed per activity. */
const MAX_CLIENTS_PER_ACTIVITY = 1_000;

/** The activity name of processing on a lawful basis without a named purpose. */
const basisActivity = (basis: string) => `${basis} (no purpose named)`;

interface ActivityState {
  readonly purpose?: string;
  readonly lawfulBasis: string;
  accesses: number;
  allowed: number;
  first?: number;
  last?: number;
  readonly subjects: Set<string>;
  subjectsOverflow: boolean;
  withoutSubject: number;
  readonly categories: Set<string>;
  readonly clients: Map<string, { allowed: number; denied: number }>;
  readonly denials: CappedCounter;
  readonly consent: { granted: number; withdrawn: number; expired: number };
}

interface ClientState {
  allowed: number;
  denied: number;
  first?: number;
  last?: number;
  tokensIssued: number;
  readonly activities: Set<string>;
}

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

function newActivity(purpose: string | undefined, lawfulBasis: string): ActivityState {
  return {
    ...(purpose !== undefined ? { purpose } : {}),
    lawfulBasis,
    accesses: 0,
    allowed: 0,
    subjects: new Set(),
    subjectsOverflow: false,
    withoutSubject: 0,
    categories: new Set(),
    clients: new Map(),
    denials: new CappedCounter(100),
    consent: { granted: 0, withdrawn: 0, expired: 0 },
  };
}

/** The policy routes of an activity: those naming its purpose, or its basis without a purpose. */
function routesOf(name: string, a: ActivityState, policy: Policy): PolicyRoute[] {
  return (policy.routes ?? []).filter((r) =>
    a.purpose !== undefined
      ? r.purpose === a.purpose
      : r.purpose === undefined &&
        r.lawfulBasis !== undefined &&
        basisActivity(r.lawfulBasis) === name,
  );
}

/** Clients whose granted scopes include every scope of the route. */
function clientsOpening(route: PolicyRoute, policy: Policy): string[] {
  return Object.entries(policy.clients)
    .filter(([, c]) => route.scopes.every((s) => c.scopes.includes(s)))
    .map(([id]) => id);
}

function activityOf(
  name: string,
  a: ActivityState,
  policy: Policy,
  view: PolicyView,
): ProcessingActivity {
  const declared = a.purpose !== undefined ? policy.purposes[a.purpose] : undefined;
  const routes = routesOf(name, a, policy);
  const recipients = new Set<string>();
  for (const r of routes) for (const c of clientsOpening(r, policy)) recipients.add(c);
  const inPolicy = a.purpose !== undefined ? declared !== undefined : routes.length > 0;
  const observed: ObservedProcessing = {
    accesses: a.accesses,
    allowed: a.allowed,
    denied: a.accesses - a.allowed,
    ...(a.first !== undefined ? { firstUse: iso(a.first) } : {}),
    ...(a.last !== undefined ? { lastUse: iso(a.last) } : {}),
    dataSubjects: a.subjects.size,
    dataSubjectsExact: !a.subjectsOverflow,
    allowedWithoutDataSubject: a.withoutSubject,
    dataCategories: [...a.categories].sort(),
    clients: [...a.clients.entries()]
      .map(([client, c]) => ({ client, allowed: c.allowed, denied: c.denied }))
      .sort(
        (x, y) => y.allowed + y.denied - (x.allowed + x.denied) || (x.client < y.client ? -1 : 1),
      ),
    denials: a.denials.entries().map(({ key, count }) => ({ reason: key, count })),
    consent: { ...a.consent },
  };
  return {
    name,
    ...(a.purpose !== undefined ? { purpose: a.purpose } : {}),
    ...(declared !== undefined ? { description: declared.description } : {}),
    lawfulBasis: declared?.lawfulBasis ?? a.lawfulBasis,
    inPolicy,
    dataSubjectCategories: declared?.dataSubjects ?? [],
    dataCategories: view.categoriesOf(routes.flatMap((r) => r.scopes)),
    routes: routes.map((r) => PolicyView.label(r)),
    recipients: [...recipients].sort(),
    ...(declared?.retentionMs !== undefined
      ? { retentionSeconds: declared.retentionMs / 1000 }
      : {}),
    observed,
  };
}

function recipientOf(
  id: string,
  c: ClientState,
  policy: Policy,
  view: PolicyView,
  activities: readonly ProcessingActivity[],
): ProcessingRecipient {
  const declared = policy.clients[id];
  const scopes = declared ? [...declared.scopes].sort() : [];
  const reachable = activities.filter((a) => a.recipients.includes(id)).map((a) => a.name);
  const country = declared?.recipient?.country;
  return {
    client: id,
    inPolicy: declared !== undefined,
    ...(declared?.description !== undefined ? { description: declared.description } : {}),
    ...(declared?.recipient !== undefined ? { category: declared.recipient.category } : {}),
    ...(country !== undefined ? { country, thirdCountry: !EEA.has(country) } : {}),
    scopes,
    dataCategories: view.categoriesOf(scopes),
    activities: reachable,
    observed: {
      allowed: c.allowed,
      denied: c.denied,
      ...(c.first !== undefined ? { firstUse: iso(c.first) } : {}),
      ...(c.last !== undefined ? { lastUse: iso(c.last) } : {}),
      tokensIssued: c.tokensIssued,
      activities: [...c.activities].sort(),
    },
  };
}

/** What the record needs and the policy does not state. */
function gaps(
  policy: Policy,
  activities: readonly ProcessingActivity[],
  recipients: readonly ProcessingRecipient[],
  routesWithoutBasis: readonly string[],
): ProcessingGap[] {
  const out: ProcessingGap[] = [];
  if (policy.controller === undefined) {
    out.push({
      field: 'controller',
      hint: "the controller's name and contact details (Art. 30(1)(a)): add controller: { name, contact } to the policy",
    });
  } else if (policy.controller.dpo === undefined) {
    out.push({
      field: 'controller.dpo',
      hint: 'the contact of the data protection officer, if one is designated: add controller.dpo',
    });
  }
  for (const a of activities) {
    if (a.purpose === undefined) {
      out.push({
        field: `activities.${a.name}`,
        hint: `routes rest on ${a.lawfulBasis} without naming a purpose: name one (routes[].purpose) so its data subjects and retention can be stated`,
      });
      continue;
    }
    if (!a.inPolicy) {
      out.push({
        field: `purposes.${a.purpose}`,
        hint: `purpose '${a.purpose}' is in the audit trail but not in the policy: declare it`,
      });
      continue;
    }
    if (a.dataSubjectCategories.length === 0) {
      out.push({
        field: `purposes.${a.purpose}.dataSubjects`,
        hint: `the categories of data subjects of '${a.purpose}' (Art. 30(1)(c)): add dataSubjects`,
      });
    }
    if (a.retentionSeconds === undefined) {
      out.push({
        field: `purposes.${a.purpose}.retention`,
        hint: `the time limit for erasure of the data of '${a.purpose}' (Art. 30(1)(f)): add retention`,
      });
    }
  }
  for (const r of recipients) {
    if (!r.inPolicy) {
      out.push({
        field: `clients.${r.client}`,
        hint: `client '${r.client}' is in the audit trail but not in the policy: declare it with the scopes it needs`,
      });
    } else if (r.category === undefined) {
      out.push({
        field: `clients.${r.client}.recipient`,
        hint: `who receives the data through '${r.client}' (Art. 30(1)(d)): add recipient: { category, country }`,
      });
    } else if (r.thirdCountry === true) {
      out.push({
        field: `clients.${r.client}.recipient.country`,
        hint: `'${r.client}' processes the data in ${r.country}, outside the EEA: document the transfer safeguards (Art. 30(1)(e), Art. 46)`,
      });
    }
  }
  for (const route of routesWithoutBasis) {
    out.push({
      field: `routes.${route}`,
      hint: `${route} reaches personal data without a purpose or lawful basis: add one`,
    });
  }
  out.push({
    field: 'security',
    hint: 'the measures outside Tokenwarden (encryption of databases and backups, staff access, physical security) (Art. 32)',
  });
  return out;
}
