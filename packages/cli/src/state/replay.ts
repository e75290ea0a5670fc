import type { AuditEvent, MarkScope, WardenStore } from '@tokenwarden/core';

/** Settings that bound how long what a replay writes is kept; they must match the API's. */
export interface ReplaySettings {
  /** Now, in epoch ms: entries whose tokens have all expired by then are not written. */
  readonly now: number;
  /** The API's longest token lifetime, in ms: how long a not-before mark is kept. */
  readonly maxLifetimeMs: number;
  /** The API's clock tolerance, in ms. */
  readonly clockToleranceMs: number;
}

/** What a replay found in the trail and wrote to the store. */
export interface ReplaySummary {
  /** Events read. */
  readonly events: number;
  /** Revoked token ids written (their tokens not yet expired). */
  readonly tokens: number;
  /** Not-before marks written, by scope (`all`: 0 or 1). */
  readonly subjects: number;
  readonly clients: number;
  readonly all: number;
  /** Consent records written. */
  readonly consents: number;
  /** State-changing events that named no id to apply them to, skipped. */
  readonly skipped: number;
}

interface Mark {
  at: number;
  keepUntil: number;
}

interface ConsentHistory {
  readonly subject: string;
  readonly purpose: string;
  /** The latest successful grant. */
  grant?: {
    grantedAt: number;
    expiresAt?: number;
    source?: string;
    notice?: string;
    evidence?: string;
  };
  /** The latest withdrawal. */
  withdrawal?: { withdrawnAt: number; source?: string; keepUntil?: number };
}

/** Writes at once, at most, while applying. */
const IN_FLIGHT = 32;

/**
 * The state of a store as the audit trail records its changes: revoked token ids, not-before
 * marks and consent records, rebuilt event by event and then written to a store. Every change of
 * state is an audit event (`token.revoked`, `subject.revoked`, `client.revoked`, `all.revoked`,
 * `consent.granted`, `consent.withdrawn`), whatever node or tool made it.
 *
 * The replay errs on the side of refusing: a revocation or withdrawal is applied even when its
 * event records a failure (the store may have taken the write before failing to answer), a grant
 * only when it succeeded; marks only move forward; times come from the event's details, else the
 * event time, which is never earlier than the change. Only what can still refuse a token is kept
 * in memory: revoked ids and marks of tokens that have all expired are dropped as they are read.
 */
export class StateReplay {
  private events = 0;
  private skipped = 0;
  private readonly tokens = new Map<string, number>();
  private readonly subjects = new Map<string, Mark>();
  private readonly clients = new Map<string, Mark>();
  private everyone: Mark | undefined;
  private readonly consents = new Map<string, ConsentHistory>();

  constructor(private readonly settings: ReplaySettings) {}

  /** Takes the next event of the trail (any order; events of other types are ignored). */
  add(event: AuditEvent): void {
    this.events += 1;
    const time = Date.parse(event.time);
    switch (event.type) {
      case 'token.revoked':
        return this.revokedToken(event, time);
      case 'subject.revoked':
        return this.mark('subject', event.subject, event, time);
      case 'client.revoked':
        return this.mark('client', event.client, event, time);
      case 'all.revoked':
        return this.mark('all', '', event, time);
      case 'consent.granted':
        return this.granted(event, time);
      case 'consent.withdrawn':
        return this.withdrawn(event, time);
      default:
    }
  }

  /** Writes what was read to `store`, a few writes at a time. */
  async apply(store: WardenStore): Promise<ReplaySummary> {
    const writes: (() => Promise<unknown>)[] = [];
    for (const [id, keepUntil] of this.tokens) writes.push(() => store.revokeToken(id, keepUntil));
    for (const [scope, marks] of [
      ['subject', this.subjects],
      ['client', this.clients],
    ] as const) {
      for (const [id, mark] of marks) {
        writes.push(() => store.setNotBefore(scope, id, mark.at, mark.keepUntil));
      }
    }
    const all = this.everyone;
    if (all !== undefined) writes.push(() => store.setNotBefore('all', '', all.at, all.keepUntil));
    for (const history of this.consents.values()) writes.push(() => writeConsent(store, history));
    await inBatches(writes, IN_FLIGHT);
    return {
      events: this.events,
      tokens: this.tokens.size,
      subjects: this.subjects.size,
      clients: this.clients.size,
      all: all === undefined ? 0 : 1,
      consents: this.consents.size,
      skipped: this.skipped,
    };
  }

  private revokedToken(event: AuditEvent, time: number): void {
    const id = event.tokenId;
    const { now, maxLifetimeMs, clockToleranceMs } = this.settings;
    const expiresAt = numberOf(event.detail?.expiresAt) ?? time + maxLifetimeMs + clockToleranceMs;
    if (!isId(id) || !Number.isSafeInteger(expiresAt)) return this.skip();
    // As the warden keeps it: a token is accepted up to the tolerance past its expiry.
    const keepUntil = expiresAt + clockToleranceMs;
    if (keepUntil <= now) return;
    this.tokens.set(id, Math.max(keepUntil, this.tokens.get(id) ?? keepUntil));
  }

  private mark(scope: MarkScope, id: string | undefined, event: AuditEvent, time: number): void {
    const at = numberOf(event.detail?.before) ?? time;
    if ((scope !== 'all' && !isId(id)) || !Number.isSafeInteger(at)) return this.skip();
    const keepUntil = at + this.settings.maxLifetimeMs + this.settings.clockToleranceMs;
    if (keepUntil <= this.settings.now) return;
    const previous =
      scope === 'all'
        ? this.everyone
        : (scope === 'subject' ? this.subjects : this.clients).get(id!);
    const mark: Mark = {
      at: Math.max(at, previous?.at ?? at),
      keepUntil: Math.max(keepUntil, previous?.keepUntil ?? keepUntil),
    };
    if (scope === 'all') this.everyone = mark;
    else (scope === 'subject' ? this.subjects : this.clients).set(id!, mark);
  }

  private granted(event: AuditEvent, time: number): void {
    // A grant that failed may never have been recorded: restoring it could only allow more.
    if (event.outcome !== 'success') return;
    const history = this.history(event);
    const grantedAt = numberOf(event.detail?.grantedAt) ?? time;
    if (history === undefined || !Number.isSafeInteger(grantedAt)) return this.skip();
    if (history.grant !== undefined && history.grant.grantedAt > grantedAt) return;
    const expiresAt = numberOf(event.detail?.expiresAt);
    const source = stringOf(event.detail?.source);
    const notice = stringOf(event.detail?.notice);
    const evidence = stringOf(event.detail?.evidence);
    history.grant = {
      grantedAt,
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      ...(source !== undefined ? { source } : {}),
      ...(notice !== undefined ? { notice } : {}),
      ...(evidence !== undefined ? { evidence } : {}),
    };
  }

  private withdrawn(event: AuditEvent, time: number): void {
    const history = this.history(event);
    const withdrawnAt = numberOf(event.detail?.withdrawnAt) ?? time;
    if (history === undefined || !Number.isSafeInteger(withdrawnAt)) return this.skip();
    if (history.withdrawal !== undefined && history.withdrawal.withdrawnAt > withdrawnAt) return;
    const source = stringOf(event.detail?.source);
    // The retention the withdrawal was given; without one, the store's own.
    const keepUntil = numberOf(event.detail?.keepUntil);
    history.withdrawal = {
      withdrawnAt,
      ...(source !== undefined ? { source } : {}),
      ...(keepUntil !== undefined && Number.isSafeInteger(keepUntil) ? { keepUntil } : {}),
    };
  }

  private history(event: AuditEvent): ConsentHistory | undefined {
    const { dataSubject: subject, purpose } = event;
    if (!isId(subject) || !isId(purpose)) return undefined;
    const key = `${subject.length}:${subject}${purpose}`;
    let history = this.consents.get(key);
    if (history === undefined) this.consents.set(key, (history = { subject, purpose }));
    return history;
  }

  private skip(): void {
    this.skipped += 1;
  }
}

/**
 * Writes one consent record as its last grant and last withdrawal left it: the earlier of the two
 * first, so the record ends as the store's own rules made it (a grant keeps the withdrawal time,
 * a withdrawal keeps the grant).
 */
async function writeConsent(store: WardenStore, history: ConsentHistory): Promise<void> {
  const { subject, purpose, grant, withdrawal } = history;
  const doGrant = async () => {
    if (grant !== undefined) await store.grantConsent({ subject, purpose, ...grant });
  };
  const doWithdraw = async () => {
    if (withdrawal !== undefined) await store.withdrawConsent({ subject, purpose, ...withdrawal });
  };
  if (grant !== undefined && withdrawal !== undefined && grant.grantedAt > withdrawal.withdrawnAt) {
    await doWithdraw();
    await doGrant();
  } else {
    await doGrant();
    await doWithdraw();
  }
}

/** Runs `tasks` with at most `width` in flight; rejects with the first failure. */
async function inBatches(tasks: readonly (() => Promise<unknown>)[], width: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(width, tasks.length) }, worker));
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value !== '';
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
