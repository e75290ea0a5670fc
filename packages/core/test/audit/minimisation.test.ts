import { PassThrough } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { createWarden, JsonLinesSink, MemorySink } from '@tokenwarden/core';
import {
  escapeJsonText,
  escapeText,
  escapeUnsafe,
  UNMATCHED_ROUTE,
  type AuditEvent,
} from '@tokenwarden/core/internal';
import { accessReport, formatReport, MemorySource } from '@tokenwarden/core/reports';
import { testJwtOptions } from '@tokenwarden/testing';
import { bearer, view } from '../support';

/** Every character the trail must never write or print raw. */
const UNSAFE = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  0x7f,
  ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i),
  0x2028,
  0x2029,
  0x202a,
  0x202b,
  0x202c,
  0x202d,
  0x202e,
  0x2066,
  0x2067,
  0x2068,
  0x2069,
  0x200e,
  0x200f,
  0x061c,
].map((c) => String.fromCharCode(c));
// eslint-disable-next-line no-control-regex
const RAW = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

describe('escapeUnsafe', () => {
  it('escapes every C0, DEL, C1, separator and bidi control, and nothing else', () => {
    for (const c of UNSAFE) {
      const code = c.charCodeAt(0).toString(16);
      expect(escapeText(`a${c}b`)).toBe(`a\\u{${code}}b`);
      if (c !== '\t' && c !== '\n' && c !== '\r') {
        expect(escapeJsonText(`"a${c}b"`)).toBe(`"a\\u${code.padStart(4, '0')}b"`);
      }
    }
    const plain = 'Zoë <ann@example.com> 東京 \\u{85} "x" 😀 \u00a0';
    expect(escapeText(plain)).toBe(plain);
    expect(escapeUnsafe(plain, 'json')).toBe(plain);
  });

  it('keeps a JSON text parsing to the same value', () => {
    const value = { subject: UNSAFE.join(''), n: 1 };
    const line = escapeJsonText(JSON.stringify(value));
    expect(line).not.toMatch(RAW);
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('what an access decision records', () => {
  async function trail(
    run: (warden: ReturnType<typeof createWarden>) => Promise<unknown>,
  ): Promise<{ events: AuditEvent[]; text: string }> {
    const memory = new MemorySink();
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: {
        sinks: [memory, new JsonLinesSink({ stream: out })],
        fingerprintKey: Buffer.alloc(32, 7),
      },
    });
    await run(warden);
    await warden.close();
    return { events: memory.events, text };
  }

  it('keeps the method and an unmatched marker, never the raw path, when no route is known', async () => {
    const { events, text } = await trail((w) =>
      w.check(view({ method: 'DELETE', path: '/customers/jane.doe@example.com' })),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      outcome: 'deny',
      reason: 'token_missing',
      method: 'DELETE',
      route: UNMATCHED_ROUTE,
    });
    expect(JSON.stringify(events)).not.toContain('jane.doe');
    expect(text).not.toContain('jane.doe');
  });

  it('keeps the route template when the framework knows it', async () => {
    const { events } = await trail((w) =>
      w.check(view({ path: '/customers/jane.doe@example.com', route: '/customers/:id' })),
    );
    expect(events[0]?.route).toBe('/customers/:id');
    expect(JSON.stringify(events)).not.toContain('jane.doe');
  });

  it('writes a user agent with C1, separator and bidi characters JSON-escaped', async () => {
    const agent = 'evil\u0085agent\u2028\u202e';
    const { events, text } = await trail((w) =>
      w.check(bearer('not.a.jwt', { headers: { 'user-agent': agent } })),
    );
    expect(text).not.toMatch(/[\u0080-\u009f\u2028\u202e]/);
    const stored = JSON.parse(text) as AuditEvent;
    expect(stored.userAgent).toBe(events[0]?.userAgent);
  });
});

describe('reports print escaped text', () => {
  const subject = 'ann\u0085\u2028\u202e';
  const events: AuditEvent[] = [
    {
      schemaVersion: 1,
      id: 'p/1',
      time: '2030-01-01T00:00:00.000Z',
      type: 'access.decision',
      outcome: 'allow',
      reason: 'authorized',
      subject,
      dataSubject: subject,
      client: 'app\u0090',
      route: '/customers/:id',
      method: 'GET',
    } as AuditEvent,
  ];

  it('in every format', async () => {
    const report = await accessReport(new MemorySource(events), subject);
    for (const format of ['text', 'markdown', 'html', 'csv', 'json'] as const) {
      const out = formatReport(report, format);
      expect(out.replace(/[\n\r]/g, '')).not.toMatch(RAW);
      if (format === 'json') expect(JSON.parse(out)).toMatchObject({ dataSubject: subject });
      else expect(out.toLowerCase()).toContain('ann\\u{85}\\u{2028}\\u{202e}');
    }
  });
});
