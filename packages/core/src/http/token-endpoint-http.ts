import type { TokenEndpoint } from '../issue/token-endpoint';
import { errorAnswer, type TokenEndpointResponse } from '../issue/token-endpoint-answers';
import {
  MAX_TOKEN_REQUEST_BYTES,
  PARAMS_MALFORMED,
  PARAMS_TOO_LARGE,
  readTokenRequestBody,
} from '../issue/token-endpoint-params';

/**
 * The request the token endpoint reads: Node's `IncomingMessage` as it is (Express's `req`, Koa's
 * `ctx.req`, Fastify's `request.raw`). Its body is read from it as a stream, unless a body parser
 * has read it already (`readableEnded`).
 */
export interface TokenHttpRequest {
  readonly method?: string;
  /** The request headers by lower-case name, as Node keeps them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** True once something (a body parser) has read the body to its end. */
  readonly readableEnded?: boolean;
  [Symbol.asyncIterator]?(): AsyncIterator<Buffer | string>;
}

/** Where a body parser left its work: `req`, `ctx.request`, Fastify's `request`. */
export interface ParsedTokenBody {
  /** What the parser made of the body. */
  readonly body?: unknown;
  /** The raw body the parser kept next to it (Nest's `rawBody: true`, @koa/bodyparser), if any. */
  readonly rawBody?: unknown;
}

const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
const CONTENT_TYPE = `the body must be ${FORM} (or ${JSON_TYPE})`;
const UNREADABLE = 'the body could not be read';

/**
 * Answers a token request arriving over HTTP, the same way on every adapter and whether or not a
 * body parser ran before it (the adapter sends the answer's status, headers and JSON body as is):
 *
 * - Other methods than POST: `405` (from {@link TokenEndpoint.handle}).
 * - Content type: `application/x-www-form-urlencoded` (RFC 6749 §4.4.2, §6) or JSON; anything
 *   else, or none, is `400 invalid_request` (§5.2), whatever a body parser made of the body.
 * - Body size: at most {@link MAX_TOKEN_REQUEST_BYTES} (8 KiB), else `400 invalid_request`. A
 *   larger `Content-Length` is refused before anything is read. Unread bodies are read up to the
 *   limit. A body a parser has read already is measured as the larger of its size on the wire
 *   (the parser's raw body, else `Content-Length`) and its parameters encoded again in the
 *   request's content type, so a compressed or chunked body is held to the same limit.
 * - Repeated parameters: `400 invalid_request` (RFC 6749 §3.2), raw or parsed into an array.
 * - A store or revoker that throws: `503 temporarily_unavailable` or a generic
 *   `500 server_error`, with no stack trace and no error text; the endpoint's logger gets it.
 *
 * @example
 * const answer = await answerTokenRequest(endpoint, req, req); // Express: req.body, req.rawBody
 * res.status(answer.status).set(answer.headers).json(answer.body);
 */
export async function answerTokenRequest(
  endpoint: TokenEndpoint,
  request: TokenHttpRequest,
  parsed?: ParsedTokenBody,
): Promise<TokenEndpointResponse> {
  const headers = request.headers;
  const header = (name: string) => headerText(headers[name]);
  const method = request.method ?? 'GET';
  if (method.toUpperCase() !== 'POST') return endpoint.handle({ method, header, body: null });
  const contentType = mediaType(header('content-type'));
  if (contentType !== FORM && contentType !== JSON_TYPE) {
    return errorAnswer('invalid_request', CONTENT_TYPE);
  }
  const declared = Number(header('content-length') ?? 0);
  if (declared > MAX_TOKEN_REQUEST_BYTES) return errorAnswer('invalid_request', PARAMS_TOO_LARGE);
  let body: unknown;
  if (request[Symbol.asyncIterator] !== undefined && request.readableEnded !== true) {
    try {
      body = await readTokenRequestBody(request as AsyncIterable<Buffer | string>);
    } catch {
      return errorAnswer('invalid_request', UNREADABLE);
    }
    if (body === undefined) return errorAnswer('invalid_request', PARAMS_TOO_LARGE);
  } else {
    body = parsed?.body;
    const encoded = encodedSize(body, contentType === JSON_TYPE);
    if (encoded === undefined) return errorAnswer('invalid_request', PARAMS_MALFORMED);
    const raw = parsed?.rawBody;
    const wire =
      typeof raw === 'string' || Buffer.isBuffer(raw) ? Buffer.byteLength(raw) : declared;
    if (Math.max(wire, encoded) > MAX_TOKEN_REQUEST_BYTES) {
      return errorAnswer('invalid_request', PARAMS_TOO_LARGE);
    }
  }
  return endpoint.handle({ method, header, body: body ?? null });
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The media type of a `Content-Type`, lower case, without parameters. */
function mediaType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

/** Bytes of a parsed body encoded again (undefined when it cannot be: never a parser's output). */
function encodedSize(body: unknown, json: boolean): number | undefined {
  if (body === undefined || body === null) return 0;
  if (typeof body === 'string' || Buffer.isBuffer(body)) return Buffer.byteLength(body);
  if (typeof body !== 'object') return undefined;
  try {
    if (json) return Buffer.byteLength(JSON.stringify(body));
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(body)) {
      for (const item of Array.isArray(value) ? (value as unknown[]) : [value]) {
        form.append(name, typeof item === 'string' ? item : (JSON.stringify(item) ?? ''));
      }
    }
    return Buffer.byteLength(form.toString());
  } catch {
    return undefined;
  }
}
