import { escapeJsonText } from './escape';
import type { AuditEvent } from './types';

/**
 * The JSON the trail produced for an event, kept on the event under a non-enumerable symbol (so
 * sinks do not serialise it again, and `JSON.stringify`, `Object.keys` and deep equality ignore it).
 * A registered symbol, so a sink from another copy of this package (an ESM and a CommonJS copy
 * loaded side by side) still finds it.
 */
const LINE = Symbol.for('tokenwarden.auditLine');

type WithLine = AuditEvent & { [LINE]?: string };

/**
 * One event as a line of JSON (without the newline): the text the audit trail made while hashing
 * it when there is one, else `JSON.stringify(event)`. Sinks use it to store events as text. Control,
 * separator and bidi characters are JSON-escaped in it (`escapeJsonText`): the line parses to the
 * same event, but no raw C1 control or U+2028 reaches a file, a stream or a terminal.
 */
export function auditLine(event: AuditEvent): string {
  return (event as WithLine)[LINE] ?? escapeJsonText(JSON.stringify(event));
}

/** The line an event was parsed from or sealed as, if it carries one. */
export function storedLine(event: AuditEvent): string | undefined {
  return (event as WithLine)[LINE];
}

/**
 * Parses one stored line back into an event, keeping the line, exactly as stored, for
 * {@link auditLine}.
 */
export function parseAuditLine(line: string): AuditEvent {
  const event = JSON.parse(line) as AuditEvent;
  if (event === null || typeof event !== 'object' || Array.isArray(event)) {
    throw new TypeError('an audit line must hold a JSON object');
  }
  Object.defineProperty(event, LINE, { value: line });
  return event;
}

/**
 * Remembers the serialisation of an event, as it will be stored: `line` with its unsafe
 * characters JSON-escaped (the same event once parsed). @internal
 */
export function rememberLine(event: AuditEvent, line: string): void {
  Object.defineProperty(event, LINE, { value: escapeJsonText(line) });
}

/**
 * Keeps the highest `seq` stored per producer, so a sink can skip the copies a replay sends again.
 * Events without `producer` or `seq` always pass.
 *
 * @example
 * const fresh = this.seen.fresh(events); // before storing
 * ...store fresh...
 * this.seen.commit(fresh);               // after storing
 */
export class SeqFilter {
  private readonly last = new Map<string, number>();

  /** The events not stored yet: per producer, those with a seq above the highest stored. */
  fresh(events: readonly AuditEvent[]): AuditEvent[] {
    const high = new Map<string, number>();
    const out: AuditEvent[] = [];
    for (const event of events) {
      const { producer, seq } = event;
      if (producer === undefined || seq === undefined) {
        out.push(event);
        continue;
      }
      const top = high.get(producer) ?? this.last.get(producer) ?? 0;
      if (seq <= top) continue;
      high.set(producer, seq);
      out.push(event);
    }
    return out;
  }

  /** Records events as stored. */
  commit(events: readonly AuditEvent[]): void {
    for (const { producer, seq } of events) {
      if (producer === undefined || seq === undefined) continue;
      if (seq > (this.last.get(producer) ?? 0)) this.last.set(producer, seq);
    }
  }
}
