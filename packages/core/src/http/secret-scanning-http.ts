import type { HandlerAnswer } from './answers';
import { SERVER_ERROR } from './answers';
import { scanningRefusal, type SecretScanning } from './secret-scanning';
import type { ParsedTokenBody, TokenHttpRequest } from './token-endpoint-http';

/** Most bytes read past the limit before giving up on a body (so a 413 still reaches the client). */
const DRAIN_BYTES = 1024 * 1024;

/**
 * Answers a secret scanner's report arriving over HTTP, the same on every adapter (the adapter
 * sends the answer's status, headers and string body as they are). The signature covers the raw
 * body, so the handler reads it from the request stream itself; mounted after a body parser, it
 * takes the raw body the parser kept (`rawBody`: Nest's `rawBody: true`, @koa/bodyparser), and
 * without one answers a generic 500 and logs what to change. Checks, in order: method (405),
 * content type `application/json` (415), size from `Content-Length` then while reading (413),
 * then {@link SecretScanning.answer}.
 */
export async function answerSecretScanning(
  scanning: SecretScanning,
  request: TokenHttpRequest,
  parsed?: ParsedTokenBody,
  logError?: (message: string) => void,
): Promise<HandlerAnswer> {
  const headers = request.headers;
  const header = (name: string): string | undefined => {
    const value = headers[name];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  if ((request.method ?? 'GET').toUpperCase() !== 'POST') {
    return scanningRefusal(405, 'method_not_allowed', 'reports are POSTed');
  }
  const type = header('content-type');
  const media = type?.split(';')[0]!.trim().toLowerCase();
  if (media !== 'application/json') {
    return scanningRefusal(415, 'unsupported_media_type', 'a report is application/json');
  }
  const max = scanning.maxBodyBytes;
  if (Number(header('content-length') ?? 0) > max) {
    return scanningRefusal(413, 'report_too_large', `a report is at most ${max} bytes`);
  }
  let body: Buffer | undefined;
  if (request[Symbol.asyncIterator] !== undefined && request.readableEnded !== true) {
    try {
      body = await readCapped(request as AsyncIterable<Buffer | string>, max);
    } catch {
      return scanningRefusal(400, 'report_malformed', 'the body could not be read');
    }
    if (body === undefined) {
      return scanningRefusal(413, 'report_too_large', `a report is at most ${max} bytes`);
    }
  } else {
    const raw = parsed?.rawBody;
    if (typeof raw === 'string') body = Buffer.from(raw, 'utf8');
    else if (Buffer.isBuffer(raw)) body = raw;
    else {
      (logError ?? console.error)(
        '[tokenwarden] the secret-scanning handler needs the raw body: mount it before any body parser, or keep the raw body (Nest: rawBody: true)',
      );
      return SERVER_ERROR;
    }
  }
  return scanning.answer({ method: 'POST', header, body });
}

/** The body, or undefined when it is over `max` bytes (the rest drained up to a limit). */
async function readCapped(
  stream: AsyncIterable<Buffer | string>,
  max: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > max + DRAIN_BYTES) return undefined;
    if (size <= max) chunks.push(buffer);
  }
  return size > max ? undefined : Buffer.concat(chunks);
}
