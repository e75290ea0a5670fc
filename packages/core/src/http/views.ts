import type { RequestView } from '../request';
import { headerValuesOf, type NodeRequestLike } from './node';

/**
 * The part of a {@link RequestView} every Node-based framework shares: method, path and target
 * read once, headers from the Node request (repeated `Authorization` headers included). Adapters
 * extend it with what their framework knows after routing (`route`, `param`, `cookie`, `ip`), as
 * getters read only when asked. A class, so a request costs one small object and no closures.
 *
 * @example
 * class ExpressView extends NodeRequestView<Request> {
 *   constructor(req: Request) { super(req, req.method, req.path, req.originalUrl); }
 * }
 */
export abstract class NodeRequestView<
  N extends NodeRequestLike = NodeRequestLike,
> implements RequestView {
  readonly method: string;
  readonly path: string;
  readonly url: string;
  /** The Node request whose headers are read (for Express, the request itself). */
  protected readonly node: N;

  constructor(node: N, method: string, path: string, url: string) {
    this.node = node;
    this.method = method;
    this.path = path;
    this.url = url;
  }

  headerValues(name: string): readonly string[] | undefined {
    return headerValuesOf(this.node, name);
  }
}

/**
 * A string entry of a framework's own record (`req.params`, `req.cookies`, `ctx.params`), else
 * undefined: a JSON cookie, an array or a missing record is no credential and no route parameter.
 */
export function stringIn(record: unknown, name: string): string | undefined {
  if (record === null || typeof record !== 'object') return undefined;
  const value: unknown = (record as Record<string, unknown>)[name];
  return typeof value === 'string' ? value : undefined;
}
