import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { holdUntilDurable } from '@tokenwarden/core/internal';
import { deny } from '../src/decision';

/** Serves one handler on a loopback port; each test closes it. */
let server: ReturnType<typeof createServer> | undefined;
afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serve(handler: (res: ServerResponse) => void): Promise<number> {
  server = createServer((_req: IncomingMessage, res: ServerResponse) => handler(res));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function get(port: number): Promise<{ status: number; body: string; headers: object }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path: '/' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const unavailable = deny('audit_unavailable', 'api');

describe('holdUntilDurable', () => {
  it('sends nothing before the event is durable, then every held call in order', async () => {
    const seen: number[] = [];
    let release: () => void = () => undefined;
    let firstByteBeforeRelease = false;
    const port = await serve((res) => {
      holdUntilDurable(
        res,
        (status) => {
          seen.push(status);
          return new Promise<void>((resolve) => (release = resolve));
        },
        unavailable,
      );
      res.writeHead(201, { 'x-kind': 'streamed' });
      res.write('one,');
      res.write('two,');
      res.end('three');
      // Held: nothing has gone to the socket yet.
      firstByteBeforeRelease = res.headersSent;
      setTimeout(() => release(), 30);
    });
    const answer = await get(port);
    expect(firstByteBeforeRelease).toBe(false);
    expect(seen).toEqual([201]);
    expect(answer).toMatchObject({ status: 201, body: 'one,two,three' });
    expect(answer.headers).toMatchObject({ 'x-kind': 'streamed' });
  });

  it('answers 503 without the held headers or body when the event cannot be stored', async () => {
    const port = await serve((res) => {
      holdUntilDurable(res, () => Promise.reject(new Error('no sink, no spool')), unavailable);
      res.setHeader('set-cookie', 'session=1');
      res.writeHead(200, { 'x-secret-data': 'yes' });
      res.end('{"customer":"alice"}');
    });
    const answer = await get(port);
    expect(answer.status).toBe(503);
    expect(answer.body).toContain('audit_unavailable');
    expect(answer.body).not.toContain('alice');
    expect(answer.headers).not.toHaveProperty('set-cookie');
    expect(answer.headers).not.toHaveProperty('x-secret-data');
  });

  it('holds flushHeaders too', async () => {
    const port = await serve((res) => {
      holdUntilDurable(res, () => Promise.reject(new Error('no sink, no spool')), unavailable);
      res.flushHeaders();
      res.end('{"customer":"alice"}');
    });
    expect(await get(port)).toMatchObject({ status: 503 });
  });

  it('closes the connection when the headers had gone out before the hold', async () => {
    const port = await serve((res) => {
      res.flushHeaders();
      holdUntilDurable(res, () => Promise.reject(new Error('no sink, no spool')), unavailable);
      res.end('{"customer":"alice"}');
    });
    await expect(get(port)).rejects.toThrow();
  });

  it('records the event of a response that never writes, when the client goes away', async () => {
    const statuses: number[] = [];
    let recorded: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (recorded = resolve));
    const port = await serve((res) => {
      holdUntilDurable(
        res,
        (status) => {
          statuses.push(status);
          recorded();
          return Promise.resolve();
        },
        unavailable,
      );
    });
    const req = request({ port, host: '127.0.0.1', path: '/' });
    req.on('error', () => undefined);
    req.end();
    setTimeout(() => req.destroy(), 30);
    await done;
    expect(statuses).toEqual([200]);
  });
});
