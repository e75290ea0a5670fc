/** Largest body the token endpoint reads, in bytes. */
export const MAX_TOKEN_REQUEST_BYTES = 8192;

/** The token request parameters the endpoint reads, each at most once. */
export type TokenParams = Partial<
  Record<'grant_type' | 'client_id' | 'client_secret' | 'scope' | 'refresh_token', string>
>;

const NAMES = ['grant_type', 'client_id', 'client_secret', 'scope', 'refresh_token'] as const;

/** Why a body holds no usable parameters: the `error_description` of the 400 answer. */
export const PARAMS_MALFORMED = 'the body must be form-encoded or JSON parameters';
export const PARAMS_REPEATED = 'a parameter is repeated';
export const PARAMS_TOO_LARGE = `the body is larger than ${MAX_TOKEN_REQUEST_BYTES} bytes`;

/**
 * Token request parameters from a parsed body or raw text, or why there are none (one of the
 * `PARAMS_*` descriptions). RFC 6749 §3.2: a parameter may not be repeated, whether the body is
 * raw form text or what a body parser made of repeats (an array).
 */
export function readTokenParams(
  body: unknown,
  contentType: string | undefined,
): TokenParams | string {
  let source: Record<string, unknown>;
  if (body === undefined || body === null || body === '') {
    source = {};
  } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
    const text = body.toString();
    if (Buffer.byteLength(text) > MAX_TOKEN_REQUEST_BYTES) return PARAMS_TOO_LARGE;
    if ((contentType ?? '').toLowerCase().includes('json')) {
      try {
        const parsed: unknown = JSON.parse(text);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
          return PARAMS_MALFORMED;
        }
        source = parsed as Record<string, unknown>;
      } catch {
        return PARAMS_MALFORMED;
      }
    } else {
      const form = new URLSearchParams(text);
      source = {};
      for (const name of NAMES) {
        const values = form.getAll(name);
        if (values.length > 1) return PARAMS_REPEATED;
        if (values.length === 1) source[name] = values[0];
      }
    }
  } else if (typeof body === 'object' && !Array.isArray(body)) {
    source = body as Record<string, unknown>;
  } else {
    return PARAMS_MALFORMED;
  }
  const out: TokenParams = {};
  for (const name of NAMES) {
    const value = source[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) return PARAMS_REPEATED;
    if (typeof value !== 'string' || value.length > 4096) return PARAMS_MALFORMED;
    out[name] = value;
  }
  return out;
}

/**
 * Token request parameters from a parsed body or raw text. Undefined when the body is not
 * parameters, or a parameter is repeated or not a string (RFC 6749 §3.2: no repeats).
 */
export function parseTokenRequestBody(
  body: unknown,
  contentType: string | undefined,
): TokenParams | undefined {
  const params = readTokenParams(body, contentType);
  return typeof params === 'string' ? undefined : params;
}

/** Basic credentials (RFC 6749 §2.3.1: form-encoded id and secret); null when malformed. */
export function parseBasic(
  header: string | undefined,
): { id: string; secret: string } | undefined | null {
  if (header === undefined) return undefined;
  const match = /^Basic +([A-Za-z0-9+/=]+) *$/i.exec(header);
  if (!match) return /^Basic\b/i.test(header) ? null : undefined;
  const text = Buffer.from(match[1] as string, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  try {
    return {
      id: decodeURIComponent(text.slice(0, colon).replace(/\+/g, ' ')),
      secret: decodeURIComponent(text.slice(colon + 1).replace(/\+/g, ' ')),
    };
  } catch {
    return null;
  }
}

/** Reads a request body stream as text, up to {@link MAX_TOKEN_REQUEST_BYTES}; undefined if larger. */
export async function readTokenRequestBody(
  stream: AsyncIterable<Buffer | string>,
): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > MAX_TOKEN_REQUEST_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
