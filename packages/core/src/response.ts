import type { DenyDecision } from './decision';

/** The subset of Node's `ServerResponse` {@link writeDenial} uses. */
export interface NodeResponseLike {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body: string): unknown;
}

/** Writes a denial as is: status, headers (RFC 6750, problem+json) and the problem body. */
export function writeDenial(res: NodeResponseLike, decision: DenyDecision): void {
  res.statusCode = decision.status;
  for (const name in decision.headers) res.setHeader(name, decision.headers[name]!);
  res.end(JSON.stringify(decision.body));
}

/** The subset of Node's `ServerResponse` {@link holdUntilDurable} wraps. */
export interface HeldResponse extends NodeResponseLike {
  readonly headersSent: boolean;
  writeHead: (...args: never[]) => unknown;
  write: (...args: never[]) => boolean;
  end: (...args: never[]) => unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  getHeaderNames(): string[];
  removeHeader(name: string): void;
  destroy(error?: Error): unknown;
}

type Call = readonly ['writeHead' | 'write' | 'end', never[]];

/**
 * Holds a response until its audit event is durable (audit mode `'sync'`): `writeHead` is held,
 * the first `write` or `end` calls `settle` with the status about to be sent, and nothing reaches
 * the client until it resolves; the held calls then go out in order. When it rejects (the event
 * could be stored nowhere and `audit.onFailure` is `'refuse'`), the client gets `unavailable`
 * (503) instead, or, if the headers had already gone out, the connection is closed so that no
 * success reaches the client. A client that goes away first still gets its event recorded.
 */
export function holdUntilDurable(
  res: HeldResponse,
  settle: (status: number) => Promise<void>,
  unavailable: DenyDecision,
): void {
  const writeHead = res.writeHead;
  const write = res.write;
  const end = res.end;
  const originals = { writeHead, write, end };
  const held: Call[] = [];
  let status: number | undefined;
  let state: 'open' | 'waiting' | 'done' = 'open';
  const restore = () => {
    state = 'done';
    res.writeHead = writeHead;
    res.write = write;
    res.end = end;
  };
  const release = () => {
    restore();
    for (const [method, args] of held) originals[method].apply(res, args);
    held.length = 0;
  };
  const refuse = () => {
    restore();
    held.length = 0;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    writeDenial(res, unavailable);
  };
  const hold = (method: 'write' | 'end', args: never[]) => {
    held.push([method, args]);
    if (state === 'open') {
      state = 'waiting';
      settle(status ?? res.statusCode).then(release, refuse);
    }
  };
  res.writeHead = (...args: never[]) => {
    held.push(['writeHead', args]);
    const code: unknown = args[0];
    if (typeof code === 'number') status = code;
    return res;
  };
  res.write = (...args: never[]) => {
    hold('write', args);
    return true;
  };
  res.end = (...args: never[]) => {
    hold('end', args);
    return res;
  };
  res.once('close', () => {
    if (state === 'open') settle(res.statusCode).catch(() => undefined);
  });
}
