import { describe, expect, it } from '@jest/globals';
import { addOpenApiSecurity, type OpenApiDocument } from '@tokenwarden/core';

/** A document as SwaggerModule.createDocument (or a hand-written spec) makes it. */
function document(): OpenApiDocument {
  const op = (operationId: string) => ({
    operationId,
    responses: { '200': { description: 'ok' } },
  });
  return {
    openapi: '3.1.0',
    info: { title: 'orders', version: '1' },
    paths: {
      '/health': { get: op('health') },
      '/orders': { get: op('listOrders'), post: op('createOrder') },
      '/orders/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true }],
        get: op('getOrder'),
        delete: { operationId: 'deleteOrder' },
      },
      '/customers/{id}/offers': { get: op('offers') },
      '/catalog': { get: op('catalog') },
    },
  };
}

describe('addOpenApiSecurity', () => {
  it('adds the bearer scheme and the scopes of each operation, in place', () => {
    const doc = document();
    const out = addOpenApiSecurity(doc, {
      requirements: {
        health: false,
        listOrders: { scopes: ['orders:read'] },
        createOrder: { scopes: ['orders:write'], claims: [{ claim: 'tenant', equals: 'acme' }] },
        getOrder: { scopes: ['orders:read'], anyScopes: ['orders:own', 'orders:all'] },
        offers: { consent: { purpose: 'marketing' } },
        catalog: { public: true },
      },
    });
    expect(out).toBe(doc);
    expect(doc.components?.securitySchemes).toEqual({
      bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
    });
    const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
    expect(paths['/health']!.get!.security).toEqual([]);
    expect(paths['/orders']!.get!.security).toEqual([{ bearerAuth: ['orders:read'] }]);
    expect(paths['/orders']!.post!.security).toEqual([{ bearerAuth: ['orders:write'] }]);
    // One alternative per any-of scope, each with the scopes that are all required.
    expect(paths['/orders/{id}']!.get!.security).toEqual([
      { bearerAuth: ['orders:read', 'orders:own'] },
      { bearerAuth: ['orders:read', 'orders:all'] },
    ]);
    // No entry: any valid token, as below app.use(tw).
    expect(paths['/orders/{id}']!.delete!.security).toEqual([{ bearerAuth: [] }]);
    expect(paths['/customers/{id}/offers']!.get!.security).toEqual([{ bearerAuth: [] }]);
    // A public route: a token is optional (and still verified when sent).
    expect(paths['/catalog']!.get!.security).toEqual([{}, { bearerAuth: [] }]);
    // Path-level parameters stay as they were.
    expect(paths['/orders/{id}']!.parameters).toEqual([{ name: 'id', in: 'path', required: true }]);
  });

  it('documents the 401 and 403 answers where they can happen, keeping described ones', () => {
    const doc = document();
    const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
    (paths['/orders']!.get!.responses as Record<string, unknown>)['401'] = { description: 'mine' };
    addOpenApiSecurity(doc, {
      requirements: { listOrders: { scopes: ['orders:read'] }, health: false },
    });
    expect(paths['/orders']!.get!.responses).toEqual({
      '200': { description: 'ok' },
      '401': { description: 'mine' },
      '403': { description: expect.any(String) },
    });
    expect(Object.keys(paths['/orders']!.post!.responses as object)).toEqual(['200', '401']);
    expect(Object.keys(paths['/health']!.get!.responses as object)).toEqual(['200']);
  });

  it('takes a function of the operation, a scheme name and optional authentication', () => {
    const doc = document();
    const seen: string[] = [];
    addOpenApiSecurity(doc, {
      schemeName: 'tokenwarden',
      bearerFormat: 'opaque',
      description: 'A Tokenwarden access token or API key',
      credentialsRequired: false,
      requirements: ({ path, method, operationId }) => {
        seen.push(`${method} ${path} ${operationId}`);
        return path.startsWith('/orders') && method === 'get'
          ? { scopes: ['orders:read'] }
          : undefined;
      },
    });
    expect(seen).toContain('get /orders/{id} getOrder');
    expect(seen).toHaveLength(7);
    expect(doc.components?.securitySchemes?.tokenwarden).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'opaque',
      description: 'A Tokenwarden access token or API key',
    });
    const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
    expect(paths['/orders']!.get!.security).toEqual([{ tokenwarden: ['orders:read'] }]);
    expect(paths['/orders']!.post!.security).toEqual([{}, { tokenwarden: [] }]);
  });

  it('keeps a scheme the document already has, and makes components when it has none', () => {
    const own = { type: 'http', scheme: 'bearer', description: 'ours' };
    const doc: OpenApiDocument = {
      openapi: '3.0.3',
      components: { schemas: { Order: {} }, securitySchemes: { bearerAuth: own } },
    };
    addOpenApiSecurity(doc);
    expect(doc.components).toEqual({
      schemas: { Order: {} },
      securitySchemes: { bearerAuth: own },
    });
    const bare: OpenApiDocument = { openapi: '3.0.3' };
    addOpenApiSecurity(bare);
    expect(bare.components?.securitySchemes?.bearerAuth).toMatchObject({ scheme: 'bearer' });
  });
});
