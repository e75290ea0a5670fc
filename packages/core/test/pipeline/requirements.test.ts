import { describe, expect, it } from '@jest/globals';
import { ConfigError, type Requirement } from '@tokenwarden/core';
import { Requirements } from '../../src/pipeline/requirements';

const requirements = new Requirements({
  assertPurpose: (purpose, where) => {
    if (purpose !== 'marketing') throw new ConfigError(`${where}: ${purpose} is not declared`);
  },
  dpop: false,
});

const compile = (requirement: Requirement) => requirements.compile(requirement);
const invalid = (requirement: unknown) => () => compile(requirement as Requirement);

describe('Requirements: any-of scopes and claim checks', () => {
  it('compiles any-of scopes and claim checks next to the other parts', () => {
    const compiled = compile({
      scopes: ['a'],
      anyScopes: ['b', 'c'],
      claims: [
        { claim: 'tenant', equals: 'acme' },
        { claim: 'roles', includes: ['admin'] },
        { check: () => true },
      ],
    });
    expect(compiled.scopes).toEqual(['a']);
    expect(compiled.anyScopes).toEqual(['b', 'c']);
    expect(compiled.claims).toHaveLength(3);
    expect(compiled.claims!.map((passes) => passes({ tenant: 'acme', roles: ['admin'] }))).toEqual([
      true,
      true,
      true,
    ]);
    expect(compile({ claims: [] }).claims).toBeUndefined();
    expect(compile({}).anyScopes).toBeUndefined();
  });

  it('refuses malformed any-of scopes at start-up', () => {
    expect(invalid({ anyScopes: [] })).toThrow(/requireAnyScope: name at least one scope/);
    expect(invalid({ anyScopes: ['has space'] })).toThrow(ConfigError);
    expect(invalid({ anyScopes: 'orders:read' })).toThrow(/must be a list/);
  });

  it.each([
    [{ claims: [{ claim: '', equals: 'x' }] }, /claim name must be a non-empty string/],
    [{ claims: [{ claim: 'tenant', equals: { id: 1 } }] }, /claimEquals\('tenant'\): compare/],
    [{ claims: [{ claim: 'n', equals: Number.NaN }] }, /finite number/],
    [{ claims: [{ claim: 'roles', includes: [] }] }, /claimIncludes\('roles'\): name at least/],
    [{ claims: [{ claim: 'roles', includes: [null] }] }, /claimIncludes\('roles'\): compare/],
    [{ claims: [{ claim: 'roles' }] }, /needs equals, includes or check/],
    [{ claims: [{ check: 'x' }] }, /claimCheck: the check must be a function/],
    [{ claims: [null] }, /a claim check must be an object/],
    [{ claims: { claim: 'a', equals: 'b' } }, /claims must be a list/],
  ])('refuses the claim check %j at start-up', (requirement, message) => {
    expect(invalid(requirement)).toThrow(ConfigError);
    expect(invalid(requirement)).toThrow(message);
  });
});
