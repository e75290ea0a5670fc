import type { ProcessingActivity, ProcessingReport, SecurityMeasures } from './processing-types';
import { csv } from './render-csv';
import { Doc, headerFields, list, or, toFill, type DocMode, type FieldValue } from './render-doc';

/** Seconds as days, hours, minutes or seconds, whichever is whole. @internal */
export function humanDuration(seconds: number): string {
  const units: readonly [number, string][] = [
    [86_400, 'day'],
    [3_600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, unit] of units) {
    if (seconds >= size && seconds % size === 0) {
      const n = seconds / size;
      return `${n} ${unit}${n === 1 ? '' : 's'}`;
    }
  }
  return `${seconds} s`;
}

const ACTIVITY_HEAD = [
  'activity',
  'lawful basis',
  'categories of data subjects',
  'categories of personal data',
  'recipients',
  'retention',
  'allowed accesses',
  'data subjects',
] as const;

/** Markdown, text or HTML of the records of processing. @internal */
export function processingDoc(r: ProcessingReport, mode: DocMode): string {
  const doc = new Doc(mode);
  doc.title('Records of processing activities (GDPR Art. 30)');
  headerFields(doc, r);
  doc.section('Controller').fields([
    ['name', r.controller.name ?? toFill('name of the controller')],
    ['contact', r.controller.contact ?? toFill('contact details of the controller')],
    ['data protection officer', r.controller.dpo ?? toFill('contact of the DPO, if designated')],
  ]);

  doc.section('Processing activities');
  doc.table(
    ACTIVITY_HEAD,
    r.activities.map((a) => [
      a.inPolicy ? a.name : `${a.name} (not in policy)`,
      a.lawfulBasis,
      list(a.dataSubjectCategories),
      list(a.dataCategories),
      list(a.recipients),
      a.retentionSeconds === undefined ? '—' : humanDuration(a.retentionSeconds),
      a.observed.allowed,
      `${a.observed.dataSubjects}${a.observed.dataSubjectsExact ? '' : '+'}`,
    ]),
  );
  for (const a of r.activities) activitySection(doc, a);

  doc.section('Recipients');
  doc.table(
    [
      'client',
      'category of recipient',
      'country',
      'outside the EEA',
      'categories of personal data',
      'activities',
      'allowed',
      'denied',
      'tokens issued',
      'last use',
    ],
    r.recipients.map((c) => [
      c.inPolicy ? c.client : `${c.client} (not in policy)`,
      or(c.category),
      or(c.country),
      c.thirdCountry === undefined ? '—' : c.thirdCountry ? 'yes: transfer' : 'no',
      list(c.dataCategories),
      list(c.activities),
      c.observed.allowed,
      c.observed.denied,
      c.observed.tokensIssued,
      or(c.observed.lastUse),
    ]),
  );

  securitySections(doc, r.security);

  doc.section('Processing without a purpose or lawful basis');
  doc.fields([
    ['policy routes reaching personal data without one', list(r.routesWithoutBasis)],
    ['allowed accesses to personal data without one', r.unattributed.allowed],
  ]);
  doc.table(
    ['route', 'allowed accesses'],
    r.unattributed.routes.map((x) => [x.route, x.allowed]),
  );

  doc.section('To be completed by the controller');
  doc.fields(r.toComplete.map((g) => [g.field, toFill(g.hint)] as const));
  return doc.toString();
}

function activitySection(doc: Doc, a: ProcessingActivity): void {
  const o = a.observed;
  doc.section(a.purpose !== undefined ? `Purpose: ${a.name}` : `Lawful basis: ${a.name}`);
  doc.fields([
    ['description', a.description ?? (a.inPolicy ? undefined : 'not in the policy')],
    ['lawful basis', a.lawfulBasis],
    [
      'categories of data subjects',
      a.dataSubjectCategories.length > 0
        ? a.dataSubjectCategories.join(', ')
        : toFill(
            a.purpose !== undefined
              ? `categories of data subjects (purposes.${a.purpose}.dataSubjects)`
              : 'categories of data subjects: name a purpose for these routes',
          ),
    ],
    ['categories of personal data', list(a.dataCategories)],
    ['recipients (clients that may reach it)', list(a.recipients)],
    [
      'retention',
      a.retentionSeconds !== undefined
        ? humanDuration(a.retentionSeconds)
        : a.purpose !== undefined
          ? toFill(`time limit for erasure (purposes.${a.purpose}.retention)`)
          : toFill('name a purpose for these routes, with its retention'),
    ],
    ['routes', list(a.routes)],
    ['accesses in the period', `${o.accesses} (${o.allowed} allowed, ${o.denied} denied)`],
    ['first use', o.firstUse],
    ['last use', o.lastUse],
    [
      'distinct data subjects reached',
      `${o.dataSubjects}${o.dataSubjectsExact ? '' : ' or more'}${o.allowedWithoutDataSubject > 0 ? ` (and ${o.allowedWithoutDataSubject} allowed access(es) naming no data subject)` : ''}`,
    ],
    ['personal data reached', list(o.dataCategories)],
    [
      'consent',
      a.lawfulBasis === 'consent' || o.consent.granted + o.consent.withdrawn + o.consent.expired > 0
        ? `${o.consent.granted} given, ${o.consent.withdrawn} withdrawn, ${o.consent.expired} lapsed`
        : undefined,
    ],
  ]);
  doc.table(
    ['client', 'allowed', 'denied'],
    o.clients.map((c) => [c.client, c.allowed, c.denied]),
  );
  if (o.denials.length > 0) {
    doc.table(
      ['refused because', 'requests'],
      o.denials.map((x) => [x.reason, x.count]),
    );
  }
}

function securitySections(doc: Doc, s: SecurityMeasures): void {
  doc.section('Security measures (Art. 32)');
  const fields: (readonly [string, FieldValue])[] = [
    [
      'token lifetimes',
      `at most ${humanDuration(s.tokens.maxLifetimeSeconds)}; per client: ${
        s.tokens.clientCaps
          .map((c) => `${c.client} ${humanDuration(c.maxLifetimeSeconds)}`)
          .join(', ') || 'none'
      }`,
    ],
    [
      'tokens issued in the period',
      `${s.tokens.issued}${s.tokens.longestIssuedSeconds !== undefined ? `, longest ${humanDuration(s.tokens.longestIssuedSeconds)}` : ''}, ${s.tokens.issuedOverCap} above their cap`,
    ],
    [
      'API keys',
      `hashed at rest, expire after at most ${humanDuration(s.apiKeys.maxAgeSeconds)}; rotation: ${
        s.apiKeys.clients
          .filter((c) => c.rotationPeriodSeconds !== undefined)
          .map((c) => `${c.client} every ${humanDuration(c.rotationPeriodSeconds!)}`)
          .join(', ') || 'no rotation period set'
      }; in the period ${s.apiKeys.created} created, ${s.apiKeys.rotated} rotated, ${s.apiKeys.revoked} revoked`,
    ],
    [
      'refresh tokens',
      `hashed at rest, rotated on every use, a reused one revokes its family; idle lifetime ${humanDuration(s.refreshTokens.idleLifetimeSeconds)}, family ${humanDuration(s.refreshTokens.familyLifetimeSeconds)}; clients: ${list(s.refreshTokens.clients)}; in the period ${s.refreshTokens.refreshed} refreshed, ${s.refreshTokens.reuseDetected} reuse(s) detected`,
    ],
    [
      'signing keys',
      `${s.signing.algorithm}, rotated ${s.signing.rotationPeriodSeconds !== undefined ? `every ${humanDuration(s.signing.rotationPeriodSeconds)}` : 'only by command'}; ${s.signing.encryptedAtRest ? 'encrypted at rest (AES-256-GCM, master key outside the policy)' : 'no master key: keys shared through Redis are not encrypted by Tokenwarden'}; ${s.signing.keysRotated} rotated in the period`,
    ],
    [
      'revocation',
      `immediate, by token, subject, client or for everyone; in the period ${s.revocation.tokens} token(s), ${s.revocation.apiKeys} API key(s), ${s.revocation.subjects} subject(s), ${s.revocation.clients} client(s), ${s.revocation.all} global; ${s.revocation.refusedRevoked} request(s) refused with a revoked token`,
    ],
    [
      'consent',
      `enforced per request; ${s.consent.granted} given, ${s.consent.withdrawn} withdrawn; ${s.consent.refused} request(s) refused for missing, withdrawn or lapsed consent`,
    ],
    [
      'access control',
      `${s.accessControl.decisions} decisions: ${s.accessControl.allowed} allowed, ${s.accessControl.denied} denied`,
    ],
    [
      'audit trail',
      `${s.audit.chainVerified ? 'hash chain verified' : 'hash chain NOT verified'}${s.audit.keyed ? ' (keyed)' : ''} over ${s.audit.producers} producer(s); tokens kept only as keyed fingerprints (${s.audit.fingerprints} events); client addresses ${s.audit.addresses.hashed > 0 ? `hashed (${s.audit.addresses.hashed})` : ''}${s.audit.addresses.hashed > 0 && s.audit.addresses.truncated > 0 ? ' and ' : ''}${s.audit.addresses.truncated > 0 ? `truncated to their network (${s.audit.addresses.truncated})` : ''}${s.audit.addresses.hashed + s.audit.addresses.truncated === 0 ? 'not kept' : ''}`,
    ],
    [
      'state recovered from the trail',
      s.audit.stateRecoveries > 0 ? `${s.audit.stateRecoveries} time(s)` : undefined,
    ],
  ];
  doc.fields(fields);
  doc.table(
    ['refused because', 'requests'],
    s.accessControl.denials.map((x) => [x.reason, x.count]),
  );
}

/** CSV of the records of processing: one row per activity. @internal */
export function processingCsv(r: ProcessingReport): string {
  return csv(
    [
      'activity',
      'purpose',
      'lawfulBasis',
      'inPolicy',
      'dataSubjectCategories',
      'dataCategories',
      'recipients',
      'retentionSeconds',
      'accesses',
      'allowed',
      'denied',
      'dataSubjects',
      'firstUse',
      'lastUse',
    ],
    r.activities.map((a) => [
      a.name,
      a.purpose,
      a.lawfulBasis,
      a.inPolicy,
      a.dataSubjectCategories.join(' '),
      a.dataCategories.join(' '),
      a.recipients.join(' '),
      a.retentionSeconds,
      a.observed.accesses,
      a.observed.allowed,
      a.observed.denied,
      a.observed.dataSubjects,
      a.observed.firstUse,
      a.observed.lastUse,
    ]),
  );
}
