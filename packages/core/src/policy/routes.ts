import { ConfigError } from '../errors';
import type { RequestView } from '../request';
import type { Requirement } from './requirement';
import type { PolicyRoute, RoutePolicy } from '../internal/route-policy';

/**
 * The requirement a policy route states: its scopes; its purpose, checked as consent when the
 * purpose's lawful basis is consent (and the route names no other basis), else recorded with the
 * route's or the purpose's lawful basis; its data-subject rule; `public`.
 */
export function policyRequirement(policy: RoutePolicy, route: PolicyRoute): Requirement {
  const subject = route.dataSubject;
  const param = subject !== undefined && subject !== 'token' ? { param: subject.param } : undefined;
  const purpose = route.purpose;
  const basis =
    route.lawfulBasis ??
    (purpose !== undefined && Object.hasOwn(policy.purposes, purpose)
      ? policy.purposes[purpose]!.lawfulBasis
      : undefined);
  return Object.freeze({
    ...(route.public === true ? { public: true } : {}),
    ...(route.scopes.length > 0 ? { scopes: route.scopes } : {}),
    ...(basis === 'consent' && purpose !== undefined
      ? { consent: { purpose, ...(param ? { subject: param } : {}) } }
      : {}),
    ...(basis !== undefined && basis !== 'consent'
      ? {
          lawfulBasis: {
            basis,
            ...(purpose !== undefined ? { purpose } : {}),
            ...(param ? { subject: param } : {}),
          },
        }
      : {}),
    ...(subject !== undefined ? { dataSubject: param ?? 'token' } : {}),
  });
}

/** Whether a route reaches personal data: a scope with data categories, or a purpose. */
export function touchesPersonalData(
  route: { readonly scopes: readonly string[]; readonly purpose?: string | undefined },
  policy: RoutePolicy,
): boolean {
  return (
    route.purpose !== undefined ||
    route.scopes.some(
      (s) => Object.hasOwn(policy.scopes, s) && policy.scopes[s]!.dataCategories.length > 0,
    )
  );
}

/** `METHOD /path` of a policy route, as the policy file writes it. */
export function routeName(route: Pick<PolicyRoute, 'method' | 'path'>): string {
  return `${route.method} ${route.path}`;
}

/** One segment of a path template: text (compared without case) or a parameter. */
type Segment = { readonly text: string } | { readonly param: string };

/** The segments of a path template (`/customers/:id` → `customers`, `:id`); no trailing slash. */
export function templateSegments(path: string): Segment[] {
  const parts = path.split('/');
  const out: Segment[] = [];
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '' && i === parts.length - 1) break;
    out.push(part.startsWith(':') ? { param: part.slice(1) } : { text: part.toLowerCase() });
  }
  return out;
}

/** A node of the route tree: children by segment text, one parameter child, routes by method. */
interface Node {
  readonly children: Map<string, Node>;
  param: Node | undefined;
  readonly methods: Map<string, CompiledRoute<unknown>>;
}

const newNode = (): Node => ({ children: new Map(), param: undefined, methods: new Map() });

/** A policy route in the tree, with what the table keeps for it. */
export interface CompiledRoute<T> {
  /** Index in `policy.routes`. */
  readonly index: number;
  readonly route: PolicyRoute;
  /** The path's parameter names by segment position (undefined for text segments). */
  readonly params: readonly (string | undefined)[];
  readonly value: T;
}

/** A request matched to a policy route: the route and the request's path segments. */
export interface RouteMatch<T> {
  readonly compiled: CompiledRoute<T>;
  /** The request path split at `/`, without the leading empty part. */
  readonly segments: readonly string[];
}

/**
 * The policy's routes, compiled once into a tree keyed by path segment, so matching a request
 * splits its path once and walks the tree: text segments first, then a parameter. Text compares
 * without case and one trailing slash is ignored (as Express and @koa/router route by default),
 * so a request the framework routes to a handler cannot miss the policy's rule by its spelling.
 * A `HEAD` request falls back to the `GET` route, `*` routes match every method.
 */
export class PolicyRouteTable<T> {
  private readonly root: Node = newNode();
  /** Every compiled route, in policy order. */
  readonly routes: readonly CompiledRoute<T>[];

  /** `value` is computed once per route (e.g. its compiled requirement). */
  constructor(policy: RoutePolicy, value: (route: PolicyRoute, index: number) => T) {
    const routes: CompiledRoute<T>[] = [];
    (policy.routes ?? []).forEach((route, index) => {
      const segments = templateSegments(route.path);
      let node = this.root;
      const params: (string | undefined)[] = [];
      for (const segment of segments) {
        if ('param' in segment) {
          node = node.param ??= newNode();
          params.push(segment.param);
        } else {
          let child = node.children.get(segment.text);
          if (child === undefined) node.children.set(segment.text, (child = newNode()));
          node = child;
          params.push(undefined);
        }
      }
      if (node.methods.has(route.method)) {
        throw new ConfigError(
          `policy routes[${index}] (${routeName(route)}) repeats the path of an earlier route for the same method; keep one`,
        );
      }
      const compiled: CompiledRoute<T> = { index, route, params, value: value(route, index) };
      node.methods.set(route.method, compiled as CompiledRoute<unknown>);
      routes.push(compiled);
    });
    this.routes = routes;
  }

  /** The policy route of a request, if one matches its method and path (no query string). */
  match(method: string, path: string): RouteMatch<T> | undefined {
    const parts = path.split('/');
    // A trailing slash ends in an empty part: ignored. The leading one is always empty.
    let end = parts.length;
    if (end > 2 && parts[end - 1] === '') end--;
    const compiled = this.walk(this.root, parts, 1, end, method);
    return compiled === undefined ? undefined : { compiled, segments: parts };
  }

  private walk(
    node: Node,
    parts: readonly string[],
    at: number,
    end: number,
    method: string,
  ): CompiledRoute<T> | undefined {
    if (at >= end || (at === 1 && end === 2 && parts[1] === '')) {
      const methods = node.methods;
      return (methods.get(method) ??
        (method === 'HEAD' ? methods.get('GET') : undefined) ??
        methods.get('*')) as CompiledRoute<T> | undefined;
    }
    const part = parts[at]!;
    const child = node.children.size > 0 ? node.children.get(part.toLowerCase()) : undefined;
    if (child !== undefined) {
      const found = this.walk(child, parts, at + 1, end, method);
      if (found !== undefined) return found;
    }
    return node.param !== undefined && part !== ''
      ? this.walk(node.param, parts, at + 1, end, method)
      : undefined;
  }
}

/**
 * A request seen through the policy route it matched: the route template is its `route` (for
 * the audit trail) and the template's parameters are read from the path (the middleware runs
 * before the framework routes the request); everything else is the framework's view.
 */
export class PolicyRouteView<T = unknown> implements RequestView {
  constructor(
    private readonly inner: RequestView,
    private readonly matched: RouteMatch<T>,
  ) {}

  /** What the table keeps for the matched route (e.g. its compiled requirement). */
  get value(): T {
    return this.matched.compiled.value;
  }

  get method(): string {
    return this.inner.method;
  }
  get path(): string {
    return this.inner.path;
  }
  get url(): string {
    return this.inner.url;
  }
  get route(): string {
    return this.matched.compiled.route.path;
  }
  get ip(): string | undefined {
    return this.inner.ip;
  }
  headerValues(name: string): readonly string[] | undefined {
    return this.inner.headerValues(name);
  }
  cookie(name: string): string | undefined {
    return this.inner.cookie?.(name);
  }
  param(name: string): string | undefined {
    const params = this.matched.compiled.params;
    for (let i = 0; i < params.length; i++) {
      if (params[i] !== name) continue;
      const raw = this.matched.segments[i + 1];
      if (raw === undefined || raw === '') return undefined;
      try {
        return decodeURIComponent(raw);
      } catch {
        return undefined;
      }
    }
    return this.inner.param?.(name);
  }
}
