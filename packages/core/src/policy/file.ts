import { readFileSync } from 'node:fs';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors';
import { lintPolicy, type PolicyPath } from './lint';
import { resolvePolicy } from './resolve';
import { policySchema } from './schema';
import type { PolicyCheckResult, PolicyDiagnostic, Policy } from './types';

/**
 * Parses and lints a policy (YAML or JSON text). Every finding names its line and column and
 * says how to fix it: schema mistakes, unknown scopes and purposes, lifetimes above the global
 * cap, scopes no route or client uses, scopes without data categories.
 */
export function checkPolicy(text: string): PolicyCheckResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const diagnostics: PolicyDiagnostic[] = [];
  const at = (path: PolicyPath, severity: PolicyDiagnostic['severity'], message: string) => {
    const { line, column } = locate(doc, lineCounter, path);
    diagnostics.push({ severity, line, column, path: formatPath(path), message });
  };
  for (const error of doc.errors) {
    const pos = lineCounter.linePos(error.pos[0]);
    diagnostics.push({
      severity: 'error',
      line: pos.line,
      column: pos.col,
      path: '',
      message: `${error.message.split('\n')[0]}; fix the YAML/JSON syntax`,
    });
  }
  if (doc.errors.length > 0) return { diagnostics };

  const parsed = policySchema.safeParse(doc.toJS());
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

/** Line and column of the node at `path`, or of its nearest ancestor that exists. */
function locate(
  doc: Document,
  counter: LineCounter,
  path: PolicyPath,
): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
      );
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
