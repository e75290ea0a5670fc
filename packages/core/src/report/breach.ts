import type { AuditEvent } from '../audit';
import type {
  BreachGap,
  BreachMeasure,
  BreachOptions,
  BreachReport,
  BreachSubject,
} from './breach-types';
import { ExposureCollector } from './exposure';
import type { ExposureReport, ExposureSelector } from './exposure-types';
import { UNLISTED_ROUTE } from './exposure-uses';
import { iso, PolicyView, readTrail } from './read';
import type { AuditSource } from './types';

/** Art. 33(1): the supervisory authority is notified within 72 hours of becoming aware. */
const NOTIFY_WITHIN_MS = 72 * 3_600_000;
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The credential a breach report is about, from what an operator has at hand: an API key id
 * (`ak_…`) names the key; anything else is a token id (`jti`, refresh ids `rt_…`) or the token
 * fingerprint the audit trail carries.
 */
export function breachSelector(credential: string): ExposureSelector {
  return credential.startsWith('ak_') ? { apiKeyId: credential } : { tokenId: credential };
}

/**
 * A personal-data breach through a leaked credential, for the notification to the supervisory
 * authority (GDPR Art. 33) and to the data subjects (Art. 34). Built on the exposure report and
 * the same single pass over the trail: the nature of the breach (read, changed), the categories
 * and numbers of data subjects and records, the time line (issued, first and last use, suspected
 * leak, detection, revocation) with the 72-hour deadline from detection, the measures the trail
 * records, the fields only the controller can fill, and the data subjects to notify.
 *
 * The breach window is the uses from `leakedAt` on, or every use in the period without it.
 *
 * @example
 * const report = await breachReport(source, breachSelector('jti-123'), {
 *   policy, detectedAt: Date.parse('2030-01-05T09:30:00Z'), leakedAt: Date.parse('2030-01-05T08:00:00Z'),
 * });
 */
export async function breachReport(
  source: AuditSource,
  selector: ExposureSelector,
  options: BreachOptions = {},
): Promise<BreachReport> {
  const view = new PolicyView(options.policy);
  const collector = new ExposureCollector(selector, options);
  const leak = options.leakedAt;
  const subjects = new SubjectTally(options.maxSubjectsListed ?? 100_000);
  const rotations: BreachMeasure[] = [];
  const ownKey = 'apiKeyId' in selector ? selector.apiKeyId : undefined;
  let reads = 0;
  let changes = 0;
  let records = 0;
  let withoutSubject = 0;
  const reached = new Set<string>();
  let firstInWindow: number | undefined;
  let lastInWindow: number | undefined;

  const header = await readTrail(source, options, options.policy, (event, time) => {
    if (
      ownKey !== undefined &&
      event.type === 'apikey.rotated' &&
      event.outcome === 'success' &&
      event.detail?.previousKeyId === ownKey &&
      rotations.length < 1_000
    ) {
      rotations.push(rotationOf(event));
    }
    if (!collector.visit(event, time)) return;
    if (leak !== undefined && time < leak) return;
    if (firstInWindow === undefined || time < firstInWindow) firstInWindow = time;
    if (lastInWindow === undefined || time > lastInWindow) lastInWindow = time;
    if (event.outcome !== 'allow') return;
    if (READS.has(event.method ?? 'GET')) reads += 1;
    else changes += 1;
    const route = view.route(event.method, event.route);
    const categories =
      options.policy === undefined
        ? []
        : route === undefined
          ? [UNLISTED_ROUTE]
          : view.categoriesOf(route.scopes);
    if (categories.length === 0 && options.policy !== undefined) return;
    records += 1;
    for (const c of categories) reached.add(c);
    if (event.dataSubject === undefined) withoutSubject += 1;
    else subjects.add(event.dataSubject, categories, time);
  });
  const exposure = await collector.finish(header);

  const now = (options.now ?? Date.now)();
  const detectedAt = options.detectedAt ?? now;
  const deadline = detectedAt + NOTIFY_WITHIN_MS;
  const d = exposure.didReach;
  const dataSubjects = leak !== undefined ? d.dataSubjectsAfterLeak : d.dataSubjects;
  const measures = [...exposure.revocation.events.map(revocationMeasure), ...rotations].sort(
    (a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0),
  );
  const policyController = options.policy?.controller;
  const controller = {
    ...(policyController?.name !== undefined ? { name: policyController.name } : {}),
    ...(policyController?.contact !== undefined ? { contact: policyController.contact } : {}),
    ...(policyController?.dpo !== undefined ? { dpo: policyController.dpo } : {}),
  };
  const c = exposure.couldReach;
  const overdue = now > deadline;

  return {
    ...exposure,
    kind: 'breach',
    controller,
    window: leak !== undefined ? { basis: 'suspected_leak', from: iso(leak) } : { basis: 'period' },
    nature: {
      summary: summary(exposure, { reads, changes, records, dataSubjects, leak }),
      confidentiality: reads > 0,
      integrity: changes > 0,
      reads,
      changes,
    },
    concerned: {
      dataCategories: [...reached].sort(),
      dataSubjects,
      approximate: withoutSubject > 0 || options.policy === undefined,
      records,
      recordsWithoutDataSubject: withoutSubject,
    },
    timeline: {
      ...(c.issuedAt !== undefined ? { issuedAt: c.issuedAt } : {}),
      ...(c.expiresAt !== undefined ? { expiresAt: c.expiresAt } : {}),
      ...(leak !== undefined ? { suspectedLeakAt: iso(leak) } : {}),
      ...(d.firstUse !== undefined ? { firstUse: d.firstUse } : {}),
      ...(d.lastUse !== undefined ? { lastUse: d.lastUse } : {}),
      ...(firstInWindow !== undefined ? { firstUseInWindow: iso(firstInWindow) } : {}),
      ...(lastInWindow !== undefined ? { lastUseInWindow: iso(lastInWindow) } : {}),
      detectedAt: iso(detectedAt),
      ...(exposure.revocation.revokedAt !== undefined
        ? { revokedAt: exposure.revocation.revokedAt }
        : {}),
      notifyAuthorityBy: iso(deadline),
      hoursLeft: Math.round((deadline - now) / 360_000) / 10,
      overdue,
    },
    measures,
    warnings: warnings(exposure, withoutSubject),
    toComplete: gaps(controller, overdue),
    subjects: subjects.list(),
    subjectsTruncated: subjects.truncated,
  };
}

interface SubjectEntry {
  categories: readonly string[];
  accesses: number;
  first: number;
  last: number;
}

/**
 * The data subjects a breach reached, each with the categories reached, accesses and first and
 * last access, up to `max` people. Category lists are shared between people (interned).
 */
class SubjectTally {
  private readonly subjects = new Map<string, SubjectEntry>();
  private readonly interned = new Map<string, readonly string[]>();
  truncated = false;

  constructor(private readonly max: number) {}

  add(subject: string, categories: readonly string[], time: number): void {
    let e = this.subjects.get(subject);
    if (e === undefined) {
      if (this.subjects.size >= this.max) {
        this.truncated = true;
        return;
      }
      e = { categories: this.intern(categories), accesses: 0, first: time, last: time };
      this.subjects.set(subject, e);
    } else if (!categories.every((c) => e!.categories.includes(c))) {
      e.categories = this.intern([...e.categories, ...categories]);
    }
    e.accesses += 1;
    if (time < e.first) e.first = time;
    if (time > e.last) e.last = time;
  }

  list(): BreachSubject[] {
    return [...this.subjects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([dataSubject, e]) => ({
        dataSubject,
        dataCategories: e.categories,
        accesses: e.accesses,
        firstAccess: iso(e.first),
        lastAccess: iso(e.last),
      }));
  }

  private intern(categories: readonly string[]): readonly string[] {
    const sorted = [...new Set(categories)].sort();
    const key = sorted.join('\u0000');
    const known = this.interned.get(key);
    if (known !== undefined) return known;
    this.interned.set(key, sorted);
    return sorted;
  }
}

const CREDENTIAL_NAMES = {
  token: 'token',
  api_key: 'API key',
  client: 'client',
  subject: 'subject',
} as const;

function summary(
  r: ExposureReport,
  f: {
    reads: number;
    changes: number;
    records: number;
    dataSubjects: number;
    leak: number | undefined;
  },
): string {
  const what = `${CREDENTIAL_NAMES[r.credential.kind]} ${r.credential.id}`;
  const client = r.couldReach.scopes.length
    ? ` carrying the scopes ${r.couldReach.scopes.join(', ')}`
    : '';
  const since = f.leak !== undefined ? ` from ${iso(f.leak)} on` : ' in the period';
  const head = `Unauthorised use of a leaked credential: ${what}${client}.`;
  if (f.reads + f.changes === 0) {
    return `${head} The audit trail records no allowed request with it${since}: no personal data is known to have been reached, though it could reach ${r.couldReach.dataCategories.join(', ') || 'no declared data category'} until revoked or expired.`;
  }
  const parts = [
    `${f.reads} allowed read(s)`,
    ...(f.changes > 0 ? [`${f.changes} allowed change(s)`] : []),
  ].join(' and ');
  return `${head} It was used${since} for ${parts}, ${f.records} of them on personal data of ${f.dataSubjects} data subject(s).`;
}

function revocationMeasure(e: ExposureReport['revocation']['events'][number]): BreachMeasure {
  const descriptions: Record<string, string> = {
    'token.revoked': 'the token was revoked: every node refuses it',
    'apikey.revoked': 'the API key was revoked: every node refuses it',
    'subject.revoked': `every token of the subject issued${e.before ? ` at or before ${e.before}` : ''} is refused`,
    'client.revoked': `every token of the client issued${e.before ? ` at or before ${e.before}` : ''} is refused`,
    'all.revoked': `every token issued${e.before ? ` at or before ${e.before}` : ''} is refused`,
  };
  return {
    time: e.time,
    type: e.type,
    description: descriptions[e.type] ?? e.type,
    ...(e.actor !== undefined ? { actor: e.actor } : {}),
    ...(e.reason !== undefined ? { reason: e.reason } : {}),
  };
}

function rotationOf(event: AuditEvent): BreachMeasure {
  const reason = event.detail?.reason;
  return {
    time: event.time,
    type: event.type,
    description: `the API key was replaced by ${event.tokenId ?? 'a new key'}; the old one works until the end of its overlap window`,
    ...(event.actor !== undefined ? { actor: event.actor } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
  };
}

function warnings(r: ExposureReport, withoutSubject: number): string[] {
  const out: string[] = [];
  if (!r.revocation.revoked) {
    out.push(
      'the credential is not revoked in the audit trail: revoke it now (tokenwarden revoke token <id>, or revoke --secret -)',
    );
  }
  if (r.revocation.allowedAfterRevocation > 0) {
    out.push(
      `${r.revocation.allowedAfterRevocation} request(s) were allowed after the revocation: check that every node reads the same store`,
    );
  }
  if (!r.chain.verified) {
    out.push('the audit chain did not verify over this period: the figures may be incomplete');
  }
  if (!r.policy) {
    out.push('no policy was given: the data categories behind the routes are unknown');
  }
  if (withoutSubject > 0) {
    out.push(
      `${withoutSubject} allowed request(s) reached personal data without naming the data subject: the number of people is a lower bound`,
    );
  }
  return out;
}

function gaps(controller: BreachReport['controller'], overdue: boolean): BreachGap[] {
  const out: BreachGap[] = [];
  if (controller.name === undefined || controller.contact === undefined) {
    out.push({
      field: 'controller',
      article: 'Art. 33(3)(b)',
      hint: "the controller's name and contact details (or add controller: { name, contact } to the policy)",
    });
  }
  if (controller.dpo === undefined) {
    out.push({
      field: 'dpo',
      article: 'Art. 33(3)(b)',
      hint: 'name and contact details of the data protection officer or other contact point',
    });
  }
  out.push(
    {
      field: 'circumstances',
      article: 'Art. 33(3)(a)',
      hint: 'how and where the credential was exposed, and how the breach was detected',
    },
    {
      field: 'consequences',
      article: 'Art. 33(3)(c)',
      hint: 'the likely consequences of the breach for the data subjects',
    },
    {
      field: 'further measures',
      article: 'Art. 33(3)(d)',
      hint: 'measures taken or proposed beyond those recorded here, including to mitigate possible adverse effects',
    },
    {
      field: 'communication to data subjects',
      article: 'Art. 34',
      hint: 'whether the breach is likely to result in a high risk to their rights and freedoms; if so, when they are told, else which exception of Art. 34(3) applies',
    },
  );
  if (overdue) {
    out.push({
      field: 'reasons for delay',
      article: 'Art. 33(1)',
      hint: 'the notification comes later than 72 hours after detection: give the reasons for the delay',
    });
  }
  return out;
}
