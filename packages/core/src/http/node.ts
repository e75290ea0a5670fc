/** The subset of Node's `IncomingMessage` {@link headerValuesOf} reads. */
export interface NodeRequestLike {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly rawHeaders: readonly string[];
}

/**
 * Reads every value of a header from a Node request. Node keeps only the first of repeated
 * `Authorization` headers in `headers`, so repeats are found in `rawHeaders`.
 */
export function headerValuesOf(req: NodeRequestLike, name: string): readonly string[] | undefined {
  const value = req.headers[name];
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return value;
  const raw = req.rawHeaders;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === name.length && raw[i]!.toLowerCase() === name) count++;
  }
  if (count <= 1) return [value];
  const all: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) all.push(raw[i + 1]!);
  }
  return all;
}

export {
  holdUntilDurable,
  writeDenial,
  type HeldResponse,
  type NodeResponseLike,
} from '../response';
