/**
 * `tokenwarden report processing` and `report breach`: on the report tests' generated trail (in
 * process), and on the trail the demo story leaves (the real binary), whose HTML pages are opened
 * in headless Chromium: a screenshot that is not blank, and the main sections in the rendered DOM.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { inflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { JsonLinesSink } from '@tokenwarden/core';
import type { BreachReport, ProcessingReport } from '@tokenwarden/core/reports';
import { createApp } from '../../../examples/express-api/src/app';
import { listen, runStory } from '../../../examples/shared/src';
import { jsonLines, POLICY_TEXT, scenario } from '../../core/test/report/generate';
import { runCaptured } from './support';

const ROOT = resolve(__dirname, '../../..');
const DEMO_POLICY = join(ROOT, 'examples/shared/tokenwarden.policy.yaml');
const s = scenario();
let dir: string;
let trail: string;
let policy: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-gdpr-'));
  trail = join(dir, 'audit.jsonl');
  policy = join(dir, 'policy.yaml');
  writeFileSync(trail, jsonLines(s.events));
  writeFileSync(policy, POLICY_TEXT);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const iso = (ms: number) => new Date(ms).toISOString();

describe('tokenwarden report processing', () => {
  it('prints the records of processing as Markdown, from the policy and the trail', async () => {
    const run = await runCaptured(['report', 'processing', '--file', trail, '--policy', policy]);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain('# Records of processing activities (GDPR Art. 30)');
    expect(run.out).toContain('## Purpose: marketing');
    expect(run.out).toContain('- **audit chain**: verified: 2 chain(s), 374 events intact');
    expect(run.out).toContain('## To be completed by the controller');
  });

  it('gives JSON with --json, over a period', async () => {
    const since = iso(s.leakedAt);
    const run = await runCaptured([
      '--json',
      'report',
      'processing',
      '--file',
      trail,
      '--policy',
      policy,
      '--since',
      since,
    ]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as ProcessingReport;
    expect(report.kind).toBe('processing');
    expect(report.period.since).toBe(since);
    const inPeriod = s.events.filter(
      (e) =>
        e.type === 'access.decision' &&
        e.purpose === 'marketing' &&
        Date.parse(e.time) >= s.leakedAt,
    );
    expect(report.activities.find((a) => a.name === 'marketing')!.observed.accesses).toBe(
      inPeriod.length,
    );
  });

  it('needs the policy (exit 2), and says where to give it', async () => {
    const run = await runCaptured(['report', 'processing', '--file', trail]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/pass --policy <file> \(or set TOKENWARDEN_POLICY\)/);
    expect(run.out).toBe('');
  });
});

describe('tokenwarden report breach', () => {
  const detected = iso(s.leakedAt + 3_600_000);

  it('prints the breach record with the deadline, and writes the people to notify as CSV', async () => {
    const csvFile = join(dir, 'subjects.csv');
    const run = await runCaptured([
      'report',
      'breach',
      '--file',
      trail,
      '--policy',
      policy,
      '--credential',
      'tok-leak',
      '--leaked-at',
      iso(s.leakedAt),
      '--detected-at',
      detected,
      '--subjects-csv',
      csvFile,
    ]);
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain('# Personal data breach (GDPR Art. 33 and 34): token tok-leak');
    expect(run.out).toContain(
      `- **notify the supervisory authority by**: ${iso(s.leakedAt + 3_600_000 + 72 * 3_600_000)} (72 hours after detection)`,
    );
    expect(run.out).toContain('| incident-response | leaked |');
    const rows = readFileSync(csvFile, 'utf8').trimEnd().split('\r\n');
    expect(rows[0]).toBe('dataSubject,dataCategories,accesses,firstAccess,lastAccess');
    const truth = s.builder.uses.get('tok-leak')!;
    const people = new Set([...truth.subjectsAfterLeakByCategory.values()].flatMap((x) => [...x]));
    expect(
      rows
        .slice(1)
        .map((r) => r.split(',')[0])
        .sort(),
    ).toEqual([...people].sort());
    expect(statSync(csvFile).mode & 0o777).toBe(0o600);
  });

  it('gives the same people as CSV on standard output, and JSON', async () => {
    const args = ['--file', trail, '--policy', policy, '--credential', 'fp-tok-leak'];
    const csv = await runCaptured(['report', 'breach', ...args, '--format', 'csv']);
    expect(csv.code).toBe(0);
    const json = await runCaptured(['--json', 'report', 'breach', ...args]);
    const report = JSON.parse(json.out) as BreachReport;
    expect(report.window).toEqual({ basis: 'period' });
    expect(csv.out.trimEnd().split('\r\n')).toHaveLength(1 + report.concerned.dataSubjects);
  });

  it('refuses a bad time, a missing credential and an unknown format', async () => {
    const badTime = await runCaptured([
      'report',
      'breach',
      '--file',
      trail,
      '--credential',
      'tok-leak',
      '--detected-at',
      'yesterday-ish',
    ]);
    expect(badTime.code).toBe(2);
    expect(badTime.err).toMatch(/--detected-at/);
    const none = await runCaptured(['report', 'breach', '--file', trail]);
    expect(none.code).not.toBe(0);
    expect(none.err).toMatch(/--credential/);
    const format = await runCaptured([
      'report',
      'breach',
      '--file',
      trail,
      '--credential',
      'x',
      '--format',
      'pdf',
    ]);
    expect(format.code).toBe(2);
    expect(format.err).toMatch(/html/);
  });
});

/** Runs a command; resolves its exit code and output. */
function run(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, out, err });
    });
  });
}

/** The `tokenwarden` binary (its source, under tsx). */
const tokenwarden = (args: readonly string[]) =>
  run(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(ROOT, 'packages/cli/src/bin.ts'), ...args]);

/** Headless Chromium, as the test set-up installs it (scripts/ensure-chromium.sh). */
function chromium(args: readonly string[]) {
  return run('chromium', [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--no-first-run',
    '--hide-scrollbars',
    `--user-data-dir=${mkdtempSync(join(dir, 'chromium-'))}`,
    ...args,
  ]);
}

/** Width, height and pixels (RGBA) of an 8-bit, non-interlaced PNG, as Chromium writes them. */
function decodePng(png: Buffer): { width: number; height: number; rgba: Buffer } {
  expect(png.subarray(0, 8)).toEqual(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]));
  let offset = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Buffer[] = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[12]]).toEqual([8, 0]);
      colorType = data[9]!;
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  expect(channels).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels]! : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a);
      const pb = Math.abs(p - b);
      const pc = Math.abs(p - c);
      const predictor = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][
        filter
      ]!;
      pixels[y * stride + x] = (line[x]! + predictor) & 0xff;
    }
  }
  if (channels === 4) return { width, height, rgba: pixels };
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let i = 0; i < width * height; i++) pixels.copy(rgba, i * 4, i * 3, i * 3 + 3);
  return { width, height, rgba };
}

/** Distinct colours, and the share of pixels that are not the page's white. */
function inkOf(rgba: Buffer): { colours: number; inked: number } {
  const colours = new Set<number>();
  let inked = 0;
  for (let i = 0; i < rgba.length; i += 4) {
    const value = rgba.readUInt32BE(i);
    colours.add(value);
    if (value !== 0xffffffff) inked += 1;
  }
  return { colours: colours.size, inked: inked / (rgba.length / 4) };
}

describe('on the demo trail, in headless Chromium', () => {
  let demoTrail: string;
  let revokedTokenId: string;
  let blankPng: number;

  beforeAll(async () => {
    demoTrail = join(dir, 'demo.jsonl');
    const sink = new JsonLinesSink({ file: demoTrail });
    const { app, tw, issue, tokenClient } = createApp({ sinks: [sink] });
    const server = await listen(app);
    try {
      const story = await runStory({
        baseUrl: server.baseUrl,
        warden: tw.warden,
        issue,
        tokenClient,
      });
      expect(story.ok).toBe(true);
      await tw.warden.flushAudit();
    } finally {
      await server.close();
      await tw.warden.close();
    }
    const events = readFileSync(demoTrail, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; tokenId?: string });
    revokedTokenId = events.find((e) => e.type === 'token.revoked' && e.tokenId)!.tokenId!;

    const blank = join(dir, 'blank.html');
    writeFileSync(blank, '<!DOCTYPE html><html><body></body></html>');
    const shot = join(dir, 'blank.png');
    expect(
      (await chromium([`--screenshot=${shot}`, '--window-size=1280,2000', `file://${blank}`])).code,
    ).toBe(0);
    blankPng = statSync(shot).size;
  }, 120_000);

  const pages = [
    {
      name: 'processing',
      args: () => ['report', 'processing', '--file', demoTrail, '--policy', DEMO_POLICY],
      headings: [
        'Controller',
        'Processing activities',
        'Purpose: marketing',
        'Purpose: order_fulfilment',
        'Recipients',
        'Security measures (Art. 32)',
        'To be completed by the controller',
      ],
    },
    {
      name: 'breach',
      args: () => [
        'report',
        'breach',
        '--file',
        demoTrail,
        '--policy',
        DEMO_POLICY,
        '--credential',
        revokedTokenId,
      ],
      headings: [
        'Notification deadline',
        'Nature of the breach',
        'Data subjects and records concerned',
        'Time line',
        'Measures taken',
        'To be completed by the controller',
        'Data subjects to notify',
      ],
    },
  ];

  it.each(pages)(
    'report $name: the HTML page renders, with its main sections',
    async ({ name, args, headings }) => {
      const html = join(dir, `${name}.html`);
      const report = await tokenwarden([...args(), '--format', 'html', '--output', html]);
      expect(report).toMatchObject({ code: 0, err: '' });
      const page = readFileSync(html, 'utf8');
      expect(page.startsWith('<!DOCTYPE html>')).toBe(true);

      const png = join(dir, `${name}.png`);
      const shot = await chromium([
        `--screenshot=${png}`,
        '--window-size=1280,2000',
        `file://${html}`,
      ]);
      expect(shot.code).toBe(0);
      const image = decodePng(readFileSync(png));
      expect([image.width, image.height]).toEqual([1280, 2000]);
      const ink = inkOf(image.rgba);
      // Text, table rules and the header colours: far from an empty page.
      expect(ink.colours).toBeGreaterThan(20);
      expect(ink.inked).toBeGreaterThan(0.02);
      expect(statSync(png).size).toBeGreaterThan(blankPng * 5);

      const dom = await chromium(['--dump-dom', `file://${html}`]);
      expect(dom.code).toBe(0);
      for (const heading of headings) {
        const text = heading.replace(
          /[&<>]/g,
          (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!,
        );
        expect(dom.out).toContain(`<h2>${text}</h2>`);
      }
    },
    120_000,
  );
});
