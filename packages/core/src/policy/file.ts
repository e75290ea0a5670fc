import { readFileSync } from 'node:fs';
import {
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Alias,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors';
import { lintPolicy, type PolicyPath } from './lint';
import { resolvePolicy } from './resolve';
import { lintRetention } from './retention';
import { policySchema } from './schema';
import type { PolicyCheckResult, PolicyDiagnostic, Policy } from './types';

/**
 * Parses and lints a policy (YAML or JSON text). Every finding names its line and column and
 * says how to fix it: schema mistakes, unknown scopes and purposes, lifetimes above the global
 * cap, scopes no route or client uses, scopes without data categories.
 */
export function checkPolicy(text: string): PolicyCheckResult {
  const lineCounter = new LineCounter();
  const diagnostics: PolicyDiagnostic[] = [];
  const syntaxError = (offset: number, message: string) => {
    const pos = lineCounter.linePos(offset);
    diagnostics.push({ severity: 'error', line: pos.line, column: pos.col, path: '', message });
  };
  let doc: Document;
  let value: unknown;
  try {
    // Repeated keys are found by unreadableNode, through a set per map: the parser's own check
    // compares each key with every earlier one.
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
    for (const error of doc.errors) {
      syntaxError(error.pos[0], `${firstLine(error.message)}; fix the YAML/JSON syntax`);
    }
    if (doc.errors.length > 0) return { diagnostics };
    const unreadable = unreadableNode(doc);
    if (unreadable !== undefined) {
      syntaxError(unreadable.node.range?.[0] ?? 0, unreadable.message);
      return { diagnostics };
    }
    // Every alias was checked above, against a budget on what it expands to: yaml's own
    // heuristic (a count of alias uses) would refuse a list shared by a hundred clients.
    value = doc.toJS({ maxAliasCount: -1 });
  } catch (error) {
    // The parser reports what it can as errors; anything it throws still gets a line.
    syntaxError(
      0,
      `the document cannot be read (${firstLine(describe(error))}); fix the YAML/JSON`,
    );
    return { diagnostics };
  }
  const index = new WeakMap<YAMLMap, Map<string, Pair>>();
  const at = (path: PolicyPath, severity: PolicyDiagnostic['severity'], message: string) => {
    const { line, column } = locate(doc, lineCounter, index, path);
    diagnostics.push({ severity, line, column, path: formatPath(path), message });
  };

  const parsed = policySchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of (parsed.error as ZodError).issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      if (keys.length > 0) {
        for (const key of keys) {
          at([...path, key], 'error', `unknown field '${key}'; remove it or fix its name`);
        }
      } else {
        at(path, 'error', issue.message);
      }
    }
    return { diagnostics: sorted(diagnostics) };
  }
  const raw = parsed.data;
  const policy = resolvePolicy(raw);
  lintPolicy(raw, policy, at);
  lintRetention(raw, policy, at);
  const result = sorted(diagnostics);
  return result.some((d) => d.severity === 'error')
    ? { diagnostics: result }
    : { policy, diagnostics: result };
}

/** Formats a finding as `file:line:col: severity path: message`. */
export function formatDiagnostic(file: string, d: PolicyDiagnostic): string {
  return `${file}:${d.line}:${d.column}: ${d.severity}${d.path ? ` ${d.path}` : ''}: ${d.message}`;
}

/**
 * Reads and validates a policy file; throws a {@link ConfigError} listing every error (with line
 * numbers) when it has any. Warnings do not stop it.
 *
 * @example
 * const policy = loadPolicyFile('./tokenwarden.policy.yaml');
 */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the policy file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const result = checkPolicy(text);
  if (result.policy === undefined) {
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    throw new ConfigError(
      `policy file ${path} has ${errors.length} error(s); run 'tokenwarden policy check ${path}':\n` +
        errors.map((d) => formatDiagnostic(path, d)).join('\n'),
    );
  }
  return result.policy;
}

function sorted(list: PolicyDiagnostic[]): PolicyDiagnostic[] {
  return list.sort((a, b) => a.line - b.line || a.column - b.column);
}

function formatPath(path: PolicyPath): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/**
 * Line and column of the node at `path`, or of its nearest ancestor that exists. Each map's keys
 * are indexed once, so locating every finding of a large policy stays linear.
 */
function locate(
  doc: Document,
  counter: LineCounter,
  index: WeakMap<YAMLMap, Map<string, Pair>>,
  path: PolicyPath,
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = pairsOf(node, index).get(String(segment));
      if (!pair) break;
      const keyNode = pair.key as Node;
      offset = keyNode.range?.[0] ?? offset;
      node = pair.value;
      if (isScalar(node) || isMap(node) || isSeq(node))
        offset = (node as Node).range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!item) break;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  const pos = counter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** The pairs of a map by key text (scalar keys only; the first of a repeated key). */
function pairsOf(map: YAMLMap, index: WeakMap<YAMLMap, Map<string, Pair>>): Map<string, Pair> {
  let pairs = index.get(map);
  if (pairs === undefined) {
    pairs = new Map();
    for (const pair of map.items) {
      if (!isPair(pair) || !isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      if (!pairs.has(key)) pairs.set(key, pair);
    }
    index.set(map, pairs);
  }
  return pairs;
}

/**
 * The most values aliases may repeat in one policy, every alias expanded (an alias of a list
 * of aliases counts all it reaches). Far above what sharing lists between clients needs; a
 * "billion laughs" document, whose nested aliases multiply, passes it within a few lines.
 */
const MAX_ALIAS_VALUES = 100_000;

/**
 * The first node the document must not be read with, and what to change: a key repeated in its
 * map or a `__proto__` key (JavaScript objects would keep one value, or none, silently), or an
 * alias that names no anchor before it, sits inside the node it names, or takes what aliases
 * repeat above {@link MAX_ALIAS_VALUES}. Runs before the document becomes plain data, in one
 * pass: each map's keys are compared through a set, each anchored node's size computed once.
 */
function unreadableNode(doc: Document): { node: Node; message: string } | undefined {
  const anchors = new Map<string, Node>();
  const targets = new Map<Alias, Node>();
  const sizes = new Map<Node, number>();
  let repeated = 0;
  let found: { node: Node; message: string } | undefined;
  const alias = (node: Alias): { node: Node; message: string } | undefined => {
    const target = anchors.get(node.source);
    if (target === undefined) {
      return {
        node,
        message: `alias *${node.source} names no anchor before it; define &${node.source} first`,
      };
    }
    targets.set(node, target);
    const size = expandedSize(target, targets, sizes, new Set());
    if (size === undefined) {
      return {
        node,
        message: `alias *${node.source} repeats a node it is part of; write the values out`,
      };
    }
    repeated += size;
    if (repeated > MAX_ALIAS_VALUES) {
      return {
        node,
        message: `aliases repeat more than ${MAX_ALIAS_VALUES} values here (a YAML alias bomb?); write the values out`,
      };
    }
    return undefined;
  };
  const keys = (map: YAMLMap): { node: Node; message: string } | undefined => {
    const seen = new Set<string>();
    for (const pair of map.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      if (key === '__proto__')
        return { node: pair.key, message: `'__proto__' cannot be a key; rename it` };
      if (seen.has(key))
        return { node: pair.key, message: `key '${key}' is repeated in its map; keep one` };
      seen.add(key);
    }
    return undefined;
  };
  const check = (node: Node) => {
    if (isAlias(node)) {
      found = alias(node);
    } else {
      if (node.anchor) anchors.set(node.anchor, node);
      if (isMap(node)) found = keys(node);
    }
    return found === undefined ? undefined : visit.BREAK;
  };
  visit(doc, { Node: (_key, node) => check(node) });
  return found;
}

/** How many values a node stands for, aliases expanded; undefined when it contains itself. */
function expandedSize(
  node: unknown,
  targets: ReadonlyMap<Alias, Node>,
  sizes: Map<Node, number>,
  open: Set<Node>,
): number | undefined {
  if (isAlias(node)) {
    const target = targets.get(node);
    return target === undefined ? undefined : expandedSize(target, targets, sizes, open);
  }
  if (!isCollection(node)) return 1;
  const known = sizes.get(node);
  if (known !== undefined) return known;
  if (open.has(node)) return undefined;
  open.add(node);
  let size = 1;
  for (const item of node.items) {
    const parts = isPair(item) ? [item.key, item.value] : [item];
    for (const part of parts) {
      const partSize = expandedSize(part, targets, sizes, open);
      if (partSize === undefined) return undefined;
      size += partSize;
    }
  }
  open.delete(node);
  sizes.set(node, size);
  return size;
}

function firstLine(message: string): string {
  return message.split('\n')[0] ?? '';
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
