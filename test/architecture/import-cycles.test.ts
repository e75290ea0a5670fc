/**
 * Import loops make the load order of a package depend on which module is required first, and
 * tie concerns that should change apart. This reads the relative imports and re-exports of the
 * sources (value and type imports alike) and asserts:
 * - no loop between files of the CLI;
 * - no loop between the top-level folders of core (a file directly in `src/` is its own node).
 * A failure lists every loop with the imports that close it.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const ROOT = resolve(__dirname, '../..');

/** One relative import: the importing and imported file (relative to the scanned folder). */
interface Edge {
  readonly from: string;
  readonly to: string;
  /** `import type` / `export type`, or every specifier marked `type`: erased at run time. */
  readonly typeOnly: boolean;
}

// `import … from './x'`, `export … from './x'`, `import './x'`; `[^;]` keeps to one statement.
const STATEMENT =
  /(?:^|[\n;])\s*(import|export)\s+(type\s+)?(?:([^;'"]*?)\s+from\s*)?['"](\.{1,2}\/[^'"]*)['"]/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

function resolveImport(fromFile: string, specifier: string): string | undefined {
  const base = resolve(dirname(fromFile), specifier.replace(/\.(js|mjs|cjs)$/, ''));
  for (const candidate of [`${base}.ts`, `${base}.mts`, `${base}.cts`, join(base, 'index.ts')]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return undefined;
}

/** Whether every specifier in `{ … }` is marked `type` (the statement is then erased). */
function allTypeSpecifiers(clause: string): boolean {
  const braces = /\{([^}]*)\}/.exec(clause);
  // A default or namespace import next to the braces is a value import.
  if (!braces || clause.replace(braces[0], '').trim() !== '') return false;
  const specifiers = (braces[1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return specifiers.length > 0 && specifiers.every((s) => s.startsWith('type '));
}

/** The relative imports between the `.ts` files under `dir`. */
function importEdges(dir: string): Edge[] {
  const edges: Edge[] = [];
  for (const file of sourceFiles(dir)) {
    // Comments may quote import statements: drop the comments that start a line.
    const text = readFileSync(file, 'utf8')
      .replace(/^[ \t]*\/\*[\s\S]*?\*\//gm, '')
      .replace(/^[ \t]*\/\/.*$/gm, '');
    for (const match of text.matchAll(STATEMENT)) {
      const [, , typeKeyword, clause = '', specifier = ''] = match;
      const target = resolveImport(file, specifier);
      if (target === undefined) {
        throw new Error(`${relative(ROOT, file)}: cannot resolve import '${specifier}'`);
      }
      edges.push({
        from: relative(dir, file),
        to: relative(dir, target),
        typeOnly: typeKeyword !== undefined || allTypeSpecifiers(clause),
      });
    }
  }
  return edges;
}

/**
 * Every elementary cycle of the graph (Johnson-style search from each node, keeping cycles whose
 * smallest node is the start, so each is listed once), shortest first.
 */
function cycles(nodes: Iterable<string>, next: ReadonlyMap<string, ReadonlySet<string>>) {
  const found: string[][] = [];
  const sorted = [...nodes].sort();
  for (const start of sorted) {
    const path = [start];
    const onPath = new Set(path);
    const walk = (node: string): void => {
      for (const to of [...(next.get(node) ?? [])].sort()) {
        if (to === start) found.push([...path, start]);
        else if (to > start && !onPath.has(to) && found.length < 500) {
          path.push(to);
          onPath.add(to);
          walk(to);
          onPath.delete(to);
          path.pop();
        }
      }
    };
    walk(start);
  }
  return found.sort((a, b) => a.length - b.length || a.join().localeCompare(b.join()));
}

/** Groups file edges by a node function, without self-loops. */
function graphOf(edges: readonly Edge[], nodeOf: (file: string) => string) {
  const next = new Map<string, Set<string>>();
  const witnesses = new Map<string, Edge[]>();
  const nodes = new Set<string>();
  for (const edge of edges) {
    const from = nodeOf(edge.from);
    const to = nodeOf(edge.to);
    nodes.add(from).add(to);
    if (from === to) continue;
    if (!next.has(from)) next.set(from, new Set());
    next.get(from)!.add(to);
    const key = `${from} -> ${to}`;
    witnesses.set(key, [...(witnesses.get(key) ?? []), edge]);
  }
  return { nodes, next, witnesses };
}

/** One line per loop, then the imports behind each step of it. */
function describeCycles(graph: ReturnType<typeof graphOf>): string {
  const loops = cycles(graph.nodes, graph.next);
  if (loops.length === 0) return '';
  const lines = [`${loops.length} import loop(s):`];
  for (const loop of loops) {
    lines.push(`  ${loop.join(' -> ')}`);
    for (let i = 0; i + 1 < loop.length; i++) {
      const step = `${loop[i]} -> ${loop[i + 1]}`;
      for (const edge of (graph.witnesses.get(step) ?? []).slice(0, 3)) {
        lines.push(`      ${edge.from} imports${edge.typeOnly ? ' type' : ''} ${edge.to}`);
      }
    }
  }
  return lines.join('\n');
}

/** `src/report/exposure.ts` -> `report`; `src/warden.ts` -> `warden.ts`. */
const topFolder = (file: string): string => file.split(/[\\/]/)[0] ?? file;

describe('import loops', () => {
  it('none between the files of the CLI', () => {
    const edges = importEdges(join(ROOT, 'packages/cli/src'));
    expect(edges.length).toBeGreaterThan(20);
    expect(describeCycles(graphOf(edges, (file) => file))).toBe('');
  });

  it('none between the top-level folders of core', () => {
    const edges = importEdges(join(ROOT, 'packages/core/src'));
    expect(edges.length).toBeGreaterThan(100);
    expect(describeCycles(graphOf(edges, topFolder))).toBe('');
  });

  it('are found and explained when there are some', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-cycles-'));
    try {
      const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
      write('a.ts', "import { b } from './b';\nexport const a = () => b;\n");
      write('b.ts', "import type { C } from './c.js';\nexport const b = 1;\nexport type B = C;\n");
      write('c.ts', "export { a } from './a';\nexport type C = number;\n");
      write('d.ts', "// import { a } from './a';\nimport { type A } from './a';\n");
      const edges = importEdges(dir);
      expect(edges).toContainEqual({ from: 'd.ts', to: 'a.ts', typeOnly: true });
      expect(edges).toHaveLength(4);
      expect(describeCycles(graphOf(edges, (file) => file))).toBe(
        [
          '1 import loop(s):',
          '  a.ts -> b.ts -> c.ts -> a.ts',
          '      a.ts imports b.ts',
          '      b.ts imports type c.ts',
          '      c.ts imports a.ts',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
