import type { BreachReport } from './breach-types';
import { csv } from './render-csv';
import { Doc, headerFields, list, or, toFill, type DocMode } from './render-doc';

/** CSV of a breach report: the data subjects to notify, one row each. @internal */
export function breachCsv(r: BreachReport): string {
  return csv(
    ['dataSubject', 'dataCategories', 'accesses', 'firstAccess', 'lastAccess'],
    r.subjects.map((s) => [
      s.dataSubject,
      s.dataCategories.join(' '),
      s.accesses,
      s.firstAccess,
      s.lastAccess,
    ]),
  );
}

const KIND_NAMES = { token: 'token', api_key: 'API key', client: 'client', subject: 'subject' };

/** Markdown, text or HTML of a breach report. @internal */
export function breachDoc(r: BreachReport, mode: DocMode): string {
  const doc = new Doc(mode);
  doc.title(
    `Personal data breach (GDPR Art. 33 and 34): ${KIND_NAMES[r.credential.kind]} ${r.credential.id}`,
  );
  headerFields(doc, r);
  const t = r.timeline;
  doc.section('Notification deadline').fields([
    ['detected', t.detectedAt],
    ['notify the supervisory authority by', `${t.notifyAuthorityBy} (72 hours after detection)`],
    [
      'time left',
      t.overdue
        ? `OVERDUE by ${Math.abs(t.hoursLeft)} hours: give the reasons for the delay`
        : `${t.hoursLeft} hours`,
    ],
  ]);
  if (r.warnings.length > 0) {
    doc.section('Warnings');
    for (const w of r.warnings) doc.text(w);
  }

  doc.section('Nature of the breach').fields([
    ['summary', r.nature.summary],
    ['breach window', r.window.from !== undefined ? `from ${r.window.from}` : 'the whole period'],
    [
      'confidentiality',
      r.nature.confidentiality ? `personal data read (${r.nature.reads} allowed reads)` : 'no read',
    ],
    [
      'integrity',
      r.nature.integrity
        ? `personal data may have been changed (${r.nature.changes} allowed changes)`
        : 'no change',
    ],
  ]);

  const c = r.concerned;
  doc.section('Data subjects and records concerned').fields([
    ['categories of personal data', list(c.dataCategories)],
    [
      'data subjects (approximate number)',
      `${c.dataSubjects}${c.approximate ? ' or more (a lower bound, see the warnings)' : ''}`,
    ],
    ['personal data records (allowed requests on personal data)', c.records],
    ['of which naming no data subject', c.recordsWithoutDataSubject || undefined],
  ]);
  doc.table(
    ['data category', 'data subjects', 'after the leak', 'allowed uses'],
    r.didReach.dataSubjectsByCategory.map((x) => [
      x.category,
      x.dataSubjects,
      x.dataSubjectsAfterLeak,
      x.uses,
    ]),
  );

  doc.section('Time line');
  const events: [string | undefined, string][] = [
    [t.issuedAt, 'issued'],
    [t.firstUse, 'first use'],
    [t.suspectedLeakAt, 'suspected leak'],
    [t.firstUseInWindow, 'first use in the breach window'],
    [t.lastUseInWindow, 'last use in the breach window'],
    [t.lastUse, 'last use'],
    [t.detectedAt, 'detected'],
    [t.revokedAt, 'revoked'],
    [t.expiresAt, 'expires'],
    [t.notifyAuthorityBy, 'deadline: notify the supervisory authority'],
  ];
  doc.table(
    ['time', 'event'],
    events
      .filter((e): e is [string, string] => e[0] !== undefined)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([time, what]) => [time, what]),
  );

  doc.section('Measures taken');
  doc.table(
    ['time', 'measure', 'actor', 'reason'],
    r.measures.map((m) => [m.time, m.description, or(m.actor), or(m.reason)]),
  );
  if (r.revocation.revoked) {
    doc.text(`Allowed requests after the revocation: ${r.revocation.allowedAfterRevocation}.`);
  }

  const could = r.couldReach;
  doc.section('What the credential could reach').fields([
    ['scopes', list(could.scopes)],
    ['categories of personal data', list(could.dataCategories)],
    ['purposes', list(could.purposes.map((p) => `${p.purpose} (${p.lawfulBasis})`))],
  ]);
  doc.table(
    ['route', 'scopes', 'data categories', 'purpose', 'lawful basis'],
    could.routes.map((x) => [
      x.route,
      list(x.scopes),
      list(x.dataCategories),
      or(x.purpose),
      or(x.lawfulBasis),
    ]),
  );

  doc.section('Controller and contact point').fields([
    ['controller', r.controller.name ?? toFill('name of the controller')],
    ['contact', r.controller.contact ?? toFill('contact details of the controller')],
    [
      'data protection officer',
      r.controller.dpo ?? toFill('name and contact of the DPO or other contact point'),
    ],
  ]);

  doc.section('To be completed by the controller');
  doc.fields(r.toComplete.map((g) => [`${g.field} (${g.article})`, toFill(g.hint)] as const));

  doc.section('Data subjects to notify');
  doc.text(
    `${r.concerned.dataSubjects} data subject(s)${r.subjectsTruncated ? `, the first ${r.subjects.length} listed` : ''}; the CSV format lists ${r.subjectsTruncated ? 'them' : 'every one'} (--format csv or --subjects-csv).`,
  );
  doc.table(
    ['data subject', 'data categories', 'accesses', 'first access', 'last access'],
    r.subjects.map((s) => [
      s.dataSubject,
      list(s.dataCategories),
      s.accesses,
      s.firstAccess,
      s.lastAccess,
    ]),
  );

  doc.section('Uses in the breach window');
  const inWindow = r.window.from === undefined;
  doc.table(
    ['time', 'method', 'route', 'outcome', 'data subject', 'address', 'user agent'],
    r.didReach.usesListed
      .filter((u) => inWindow || u.afterLeak)
      .map((u) => [
        u.time,
        or(u.method),
        or(u.route),
        u.reason ? `${u.outcome} (${u.reason})` : u.outcome,
        or(u.dataSubject),
        or(u.clientAddress),
        or(u.userAgent),
      ]),
    inWindow ? r.didReach.uses : r.didReach.usesAfterLeak,
  );
  return doc.toString();
}
