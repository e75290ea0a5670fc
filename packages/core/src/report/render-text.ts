import type { AccessReport } from './access';
import type { ExposureReport } from './exposure-types';
import type { HygieneReport } from './hygiene';
import { Doc, headerFields, list, or, type DocMode } from './render-doc';
import type { ScopesReport } from './scopes';

/** Markdown or text of an exposure report. @internal */
export function exposureDoc(r: ExposureReport, mode: DocMode): string {
  const doc = new Doc(mode);
  const names = { token: 'token', api_key: 'API key', client: 'client', subject: 'subject' };
  doc.title(`Exposure report: ${names[r.credential.kind]} ${r.credential.id}`);
  headerFields(doc, r);
  const d = r.didReach;
  doc.section('Summary').fields([
    ['suspected leak', r.leakedAt ?? 'not given'],
    ['uses', `${d.uses} (${d.allowed} allowed, ${d.denied} denied)`],
    ['first use', or(d.firstUse)],
    ['last use', or(d.lastUse)],
    [
      'uses after the suspected leak',
      r.leakedAt
        ? `${d.usesAfterLeak} (${d.allowedAfterLeak} allowed), first ${or(d.firstUseAfterLeak)}`
        : undefined,
    ],
    [
      'distinct data subjects touched',
      `${d.dataSubjects}${r.leakedAt ? ` (${d.dataSubjectsAfterLeak} after the leak)` : ''}`,
    ],
    ['revoked', r.revocation.revoked ? `yes, ${or(r.revocation.revokedAt)}` : 'no'],
    [
      'allowed uses after revocation',
      r.revocation.revoked ? r.revocation.allowedAfterRevocation : undefined,
    ],
  ]);
  const c = r.couldReach;
  doc.section('What it could reach').fields([
    [
      'scopes',
      `${list(c.scopes)}${c.scopesFrom.length ? ` (from ${c.scopesFrom.join(', ')})` : ''}`,
    ],
    ['personal data categories', list(c.dataCategories)],
    ['purposes', list(c.purposes.map((p) => `${p.purpose} (${p.lawfulBasis})`))],
    ['issued', c.issuedAt],
    ['expires', c.expiresAt],
    ['lifetime', c.lifetimeSeconds === undefined ? undefined : `${c.lifetimeSeconds} s`],
    [
      'token lifetime cap of the client',
      c.maxTokenLifetimeSeconds === undefined ? undefined : `${c.maxTokenLifetimeSeconds} s`,
    ],
    ['tokens issued in the period', c.tokensIssued],
  ]);
  doc.table(
    ['route', 'scopes', 'data categories', 'purpose', 'lawful basis'],
    c.routes.map((x) => [
      x.route,
      list(x.scopes),
      list(x.dataCategories),
      or(x.purpose),
      or(x.lawfulBasis),
    ]),
  );
  doc.section('Revocation');
  if (r.revocation.current) {
    const cur = r.revocation.current;
    doc.fields([
      ['token id revoked in the store now', cur.tokenRevoked ? 'yes' : 'no'],
      [
        'not-before marks now',
        [
          cur.notBefore.subject !== undefined
            ? `subject ${new Date(cur.notBefore.subject).toISOString()}`
            : '',
          cur.notBefore.client !== undefined
            ? `client ${new Date(cur.notBefore.client).toISOString()}`
            : '',
          cur.notBefore.all !== undefined ? `all ${new Date(cur.notBefore.all).toISOString()}` : '',
        ]
          .filter(Boolean)
          .join(', ') || 'none',
      ],
    ]);
  }
  doc.table(
    ['time', 'event', 'actor', 'reason', 'tokens issued before'],
    r.revocation.events.map((e) => [e.time, e.type, or(e.actor), or(e.reason), or(e.before)]),
  );
  doc.section('What it did reach: data subjects per category');
  doc.table(
    ['data category', 'data subjects', 'after the leak', 'allowed uses'],
    d.dataSubjectsByCategory.map((x) => [
      x.category,
      x.dataSubjects,
      x.dataSubjectsAfterLeak,
      x.uses,
    ]),
  );
  if (d.allowedWithoutDataSubject > 0) {
    doc.text(
      `${d.allowedWithoutDataSubject} allowed use(s) reached personal data on routes whose events name no data subject.`,
    );
  }
  doc.section('Routes called');
  doc.table(
    ['route', 'allowed', 'denied'],
    d.routes.map((x) => [x.route, x.allowed, x.denied]),
  );
  doc.section('Client addresses (pseudonymised)');
  doc.table(
    ['address', 'uses', 'after the leak'],
    d.clientAddresses.map((x) => [x.address, x.uses, x.afterLeak]),
  );
  doc.section('User agents');
  doc.table(
    ['user agent', 'uses'],
    d.userAgents.map((x) => [x.userAgent, x.uses]),
  );
  doc.section('Uses');
  doc.table(
    [
      'time',
      'method',
      'route',
      'outcome',
      'status',
      'data subject',
      'purpose',
      'address',
      'after leak',
    ],
    d.usesListed.map((u) => [
      u.time,
      or(u.method),
      or(u.route),
      u.reason ? `${u.outcome} (${u.reason})` : u.outcome,
      or(u.status),
      or(u.dataSubject),
      or(u.purpose),
      or(u.clientAddress),
      u.afterLeak ? 'yes' : '',
    ]),
    d.uses,
  );
  return doc.toString();
}

/** Markdown or text of an access report. @internal */
export function accessDoc(r: AccessReport, mode: DocMode): string {
  const doc = new Doc(mode);
  doc.title(`Access report: data subject ${r.dataSubject}`);
  headerFields(doc, r);
  doc.section('Summary').fields([
    ['accesses to their data', `${r.accesses} (${r.allowed} allowed, ${r.denied} denied)`],
    ['first', or(r.firstAccess)],
    ['last', or(r.lastAccess)],
    ['clients', r.recipients.length],
    ['tokens', `${r.tokens.length}${r.tokensTruncated ? '+' : ''}`],
  ]);
  doc.section('Who accessed it');
  doc.table(
    [
      'client',
      'accesses',
      'allowed',
      'tokens',
      'first',
      'last',
      'purposes',
      'lawful bases',
      'data categories',
    ],
    r.recipients.map((x) => [
      x.client,
      x.accesses,
      x.allowed,
      x.tokens,
      x.firstAccess,
      x.lastAccess,
      list(x.purposes),
      list(x.lawfulBases),
      list(x.dataCategories),
    ]),
  );
  doc.section('Purposes');
  doc.table(
    ['purpose', 'lawful basis', 'allowed accesses'],
    r.purposes.map((p) => [p.purpose, p.lawfulBasis, p.accesses]),
  );
  doc.section('Data categories');
  doc.table(
    ['data category', 'allowed accesses'],
    r.dataCategories.map((c) => [c.category, c.accesses]),
  );
  doc.section('Consent');
  doc.table(
    ['time', 'event', 'purpose', 'source'],
    r.consent.map((c) => [c.time, c.type, or(c.purpose), or(c.source)]),
  );
  doc.section('Tokens');
  doc.table(
    ['token id', 'client', 'accesses', 'first', 'last'],
    r.tokens.map((t) => [t.tokenId, or(t.client), t.accesses, t.firstAccess, t.lastAccess]),
  );
  doc.section('Accesses');
  doc.table(
    ['time', 'client', 'token id', 'method', 'route', 'outcome', 'purpose', 'lawful basis'],
    r.accessesListed.map((a) => [
      a.time,
      or(a.client),
      or(a.tokenId),
      or(a.method),
      or(a.route),
      a.reason ? `${a.outcome} (${a.reason})` : a.outcome,
      or(a.purpose),
      or(a.lawfulBasis),
    ]),
    r.accesses,
  );
  return doc.toString();
}

/** Markdown or text of a least-privilege (scopes) report. @internal */
export function scopesDoc(r: ScopesReport, mode: DocMode): string {
  const doc = new Doc(mode);
  doc.title('Least privilege: scopes granted vs exercised');
  headerFields(doc, r);
  doc.table(
    [
      'client',
      'granted',
      'exercised',
      'to remove',
      'carried, not granted',
      'allowed',
      'denied (scope)',
      'unattributed',
    ],
    r.clients.map((c) => [
      c.inPolicy ? c.client : `${c.client} (not in policy)`,
      list(c.granted),
      list(c.exercised.map((e) => `${e.scope} (${e.uses})`)),
      list(c.toRemove),
      list(c.carriedNotGranted),
      c.allowed,
      `${c.denied} (${c.insufficientScope})`,
      c.unattributed,
    ]),
  );
  const removals = r.clients.filter((c) => c.toRemove.length > 0);
  doc.section('Scopes to remove');
  if (removals.length === 0) doc.text('none: every granted scope was exercised in the period.');
  else doc.fields(removals.map((c) => [c.client, c.toRemove.join(', ')] as const));
  const undeclared = r.clients.filter((c) => !c.inPolicy);
  if (undeclared.length > 0) {
    doc.text(
      `not in the policy (declare them, with only the scopes they need): ${undeclared.map((c) => c.client).join(', ')}`,
    );
  }
  const unattributed = r.clients.filter((c) => c.unattributed > 0);
  if (unattributed.length > 0) {
    doc.text(
      `requests on routes the policy does not list count as using no scope: ${unattributed.map((c) => `${c.client} (${c.unattributed})`).join(', ')}`,
    );
  }
  if (r.clientsNotReported > 0)
    doc.text(`${r.clientsNotReported} more client(s) were seen but not reported.`);
  return doc.toString();
}

/** Markdown or text of a hygiene report. @internal */
export function hygieneDoc(r: HygieneReport, mode: DocMode): string {
  const doc = new Doc(mode);
  doc.title('Hygiene report');
  headerFields(doc, r);
  doc.fields([
    ['API keys checked', r.checked.apiKeys === null ? 'not read' : r.checked.apiKeys],
    ['signing keys checked', r.checked.signingKeys === null ? 'not read' : r.checked.signingKeys],
    ['findings', r.findings.length],
  ]);
  doc.table(
    ['severity', 'finding', 'target', 'what to do'],
    r.findings.map((f) => [f.severity, f.kind, f.target, f.message]),
  );
  if (r.retention !== null) {
    doc.table(
      ['retention', 'of', 'applied by'],
      r.retention.map((row) => [`${row.key}: ${row.declared}`, row.record, row.appliedBy]),
    );
  }
  return doc.toString();
}
