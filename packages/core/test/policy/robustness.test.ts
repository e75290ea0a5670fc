import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@tokenwarden/core';
import { checkPolicy, loadPolicyFile, type PolicyDiagnostic } from '@tokenwarden/core/policy';

const dir = mkdtempSync(join(tmpdir(), 'tokenwarden-policy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes a policy file and returns its path. */
function policyFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The ConfigError loadPolicyFile throws for a file. */
function loadError(path: string): ConfigError {
  try {
    loadPolicyFile(path);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`${path} was accepted`);
}

const HEAD = ['version: 1', 'issuer: https://id.example.com', 'audience: api'];
const errors = (diagnostics: readonly PolicyDiagnostic[]) =>
  diagnostics.filter((d) => d.severity === 'error');

describe('policy names that Object.prototype also has', () => {
  const text = [
    ...HEAD,
    'scopes:',
    '  orders:read:',
    '    description: Read orders',
    '    dataCategories: []',
    'purposes:',
    '  billing:',
    '    description: Billing',
    '    lawfulBasis: contract',
    'clients:',
    '  crm:',
    '    scopes: [orders:read, constructor, toString]',
    'routes:',
    '  - route: GET /orders',
    '    scopes: [orders:read, hasOwnProperty]',
    '    purpose: constructor',
    '  - route: GET /invoices',
    '    scopes: [orders:read]',
    '    purpose: toString',
  ].join('\n');

  it('counts a scope or purpose named constructor, toString or hasOwnProperty as undeclared', () => {
    const result = checkPolicy(text);
    expect(result.policy).toBeUndefined();
    expect(errors(result.diagnostics).map((d) => `${d.line}:${d.column} ${d.path}`)).toEqual([
      '14:27 clients.crm.scopes[1]',
      '14:40 clients.crm.scopes[2]',
      '17:27 routes[0].scopes[1]',
      '18:14 routes[0].purpose',
      '21:14 routes[1].purpose',
    ]);
    expect(errors(result.diagnostics)[0]!.message).toBe(
      "unknown scope 'constructor'; declare it under scopes",
    );
    expect(errors(result.diagnostics)[3]!.message).toBe(
      "unknown purpose 'constructor'; declare it under purposes",
    );
  });

  it('resolves a policy whose records answer only for the names it declares', () => {
    const valid = text
      .replace(', constructor, toString]', ']')
      .replace(', hasOwnProperty]', ']')
      .replace(/purpose: (constructor|toString)/g, 'purpose: billing');
    const { policy } = checkPolicy(valid);
    expect(policy).toBeDefined();
    expect(policy!.scopes['constructor']).toBeUndefined();
    expect(policy!.purposes['toString']).toBeUndefined();
    expect(policy!.clients['hasOwnProperty']).toBeUndefined();
    expect(Object.keys(policy!.scopes)).toEqual(['orders:read']);
  });

  it('refuses a __proto__ key, which would vanish from the parsed policy, naming its line', () => {
    const path = policyFile(
      'proto.policy.yaml',
      [...HEAD, 'scopes:', '  __proto__:', '    description: Everything'].join('\n'),
    );
    expect(loadError(path).message).toContain(
      `${path}:5:3: error: '__proto__' cannot be a key; rename it`,
    );
  });
});

describe('YAML that cannot be read safely', () => {
  /** A "billion laughs" document: nine lists of nine aliases of the list before, nine deep. */
  function aliasBomb(): string {
    const lines = [...HEAD, 'scopes:', '  a:', '    description: d'];
    lines.push(`    dataCategories: &l0 [${Array(9).fill('lol').join(', ')}]`);
    for (let level = 1; level <= 9; level++) {
      const aliases = Array(9)
        .fill(`*l${level - 1}`)
        .join(', ');
      lines.push(
        `  s${level}:`,
        '    description: d',
        `    dataCategories: &l${level} [${aliases}]`,
      );
    }
    return lines.join('\n') + '\n';
  }

  it('refuses an alias bomb as a ConfigError naming the file and the alias that crossed the limit', () => {
    const path = policyFile('bomb.policy.yaml', aliasBomb());
    const error = loadError(path);
    // Levels 1 to 4 repeat 74,718 values; the first alias of level 5 (line 22) adds 66,430.
    expect(error.message).toContain(
      `${path}:22:26: error: aliases repeat more than 100000 values here (a YAML alias bomb?); write the values out`,
    );
  });

  it('checks the alias bomb without expanding it (checkPolicy answers, it does not throw)', () => {
    const result = checkPolicy(aliasBomb());
    expect(result.policy).toBeUndefined();
    expect(result.diagnostics).toHaveLength(1);
  });

  it('refuses an alias of no anchor as a ConfigError with its line, not a ReferenceError', () => {
    const path = policyFile(
      'unresolved.policy.yaml',
      [...HEAD, 'scopes:', '  a:', '    description: *nowhere'].join('\n'),
    );
    expect(loadError(path).message).toContain(
      `${path}:6:18: error: alias *nowhere names no anchor before it; define &nowhere first`,
    );
  });

  it('refuses an alias inside the node it names', () => {
    const result = checkPolicy(
      [...HEAD, 'scopes: &all', '  a:', '    description: d', '    dataCategories: *all'].join(
        '\n',
      ),
    );
    expect(result.diagnostics).toEqual([
      {
        severity: 'error',
        line: 7,
        column: 21,
        path: '',
        message: 'alias *all repeats a node it is part of; write the values out',
      },
    ]);
  });

  it('accepts one scope list shared by 150 clients through an alias', () => {
    const clients = Array.from({ length: 150 }, (_, i) =>
      i === 0 ? '  c0:\n    scopes: &shared [a]' : `  c${i}:\n    scopes: *shared`,
    );
    const text = [
      ...HEAD,
      'scopes:',
      '  a:',
      '    description: d',
      '    dataCategories: []',
      'clients:',
      ...clients,
    ].join('\n');
    const result = checkPolicy(text);
    expect(errors(result.diagnostics)).toEqual([]);
    expect(result.policy!.clients['c149']!.scopes).toEqual(['a']);
  });

  it('refuses a repeated key (also one that only JavaScript reads as the same) with its line', () => {
    expect(checkPolicy([...HEAD, 'issuer: https://other.example.com'].join('\n'))).toEqual({
      diagnostics: [
        {
          severity: 'error',
          line: 4,
          column: 1,
          path: '',
          message: "key 'issuer' is repeated in its map; keep one",
        },
      ],
    });
    const numeric = checkPolicy(
      [...HEAD, 'scopes: { 1: { description: a }, "1": { description: b } }'].join('\n'),
    );
    expect(numeric.diagnostics[0]).toMatchObject({
      line: 4,
      column: 34,
      message: "key '1' is repeated in its map; keep one",
    });
  });
});

describe('linting a large policy', () => {
  it('checks 40,000 scopes, every finding in its place, well within the test timeout', () => {
    const count = 40_000;
    const lines = [...HEAD, 'scopes:'];
    for (let i = 0; i < count; i++) lines.push(`  s${i}:`, `    description: scope ${i}`);
    // A scope's findings point at its body, the line after its name.
    const lastScopeBody = lines.length;
    lines.push('clients:', '  app:', '    scopes: [s0, s1, s40000]');
    const clientScopesLine = lines.length;
    lines.push('routes:', '  - route: GET /x', '    scopes: [s0]');
    const result = checkPolicy(lines.join('\n'));
    expect(result.policy).toBeUndefined();
    expect(errors(result.diagnostics)).toEqual([
      {
        severity: 'error',
        line: clientScopesLine,
        column: 22,
        path: 'clients.app.scopes[2]',
        message:
          "unknown scope 's40000'; declare it under scopes or fix the name (did you mean 's4000'?)",
      },
    ]);
    // Each scope but s0 and s1 has three warnings (no data categories, no route, no client).
    const last = result.diagnostics.filter((d) => d.path === `scopes.s${count - 1}`);
    expect(last.map((d) => d.line)).toEqual([lastScopeBody, lastScopeBody, lastScopeBody]);
    expect(result.diagnostics.filter((d) => d.severity === 'warning')).toHaveLength(
      3 * (count - 2) + 2 + 1 + 1,
    );
  }, 10_000);
});
