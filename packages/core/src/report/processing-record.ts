import type { Policy, PolicyRoute } from '../policy/types';
import type {
  ObservedProcessing,
  ProcessingActivity,
  ProcessingGap,
  ProcessingRecipient,
} from './processing-types';
import { CappedCounter, iso, PolicyView } from './read';

/** Countries of the European Economic Area (ISO 3166-1 alpha-2): no transfer under Art. 44. */
const EEA = new Set(
  (
    'AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK ' + 'IS LI NO'
  ).split(' '),
);

/** The activity name of processing on a lawful basis without a named purpose. */
export const basisActivity = (basis: string) => `${basis} (no purpose named)`;

/** What one pass over the trail gathers about a processing activity. */
export interface ActivityState {
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

/** What one pass over the trail gathers about a client (recipient). */
export interface ClientState {
  allowed: number;
  denied: number;
  first?: number;
  last?: number;
  tokensIssued: number;
  readonly activities: Set<string>;
}

/** An activity with nothing observed yet. */
export function newActivity(purpose: string | undefined, lawfulBasis: string): ActivityState {
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

/** The record entry of an activity: what the policy declares and what the trail shows. */
export function activityOf(
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

/** The record entry of a recipient: its declaration, country and observed use. */
export function recipientOf(
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
export function gaps(
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
