import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  findPolicyDrift,
  routesOfApp,
  type DriftFinding,
  type Policy,
} from '@tokenwarden/core/policy';
import { CliError } from './shared';

/**
 * The application a module gives: its default export or its `app` export (or `createApp`), each
 * either the application (Express, Koa, Nest) or a function, possibly async, returning it or
 * `{ app }`. The module must not start listening when imported.
 */
async function appOf(exports: Record<string, unknown>): Promise<unknown> {
  const candidates = [exports.default, exports.app, exports.createApp];
  let value = candidates.find((c) => c !== undefined);
  // A CommonJS module imported as ESM: its exports object is the default.
  if (value !== null && typeof value === 'object' && 'default' in value && !('app' in value)) {
    const inner = (value as { default: unknown }).default;
    if (inner !== undefined) value = inner;
  }
  if (typeof value === 'function' && !isApp(value)) value = await (value as () => unknown)();
  if (value !== null && typeof value === 'object' && 'app' in value && !isApp(value)) {
    value = (value as { app: unknown }).app;
  }
  return value;
}

/** An Express application is itself a function: it must not be called. */
function isApp(value: unknown): boolean {
  return routesOfApp(value) !== undefined;
}

/**
 * The drift findings of the application in `modulePath` against `policy`: the routes are listed
 * by the Tokenwarden adapter the application loaded (Express, Koa or Nest). A Nest application
 * is closed afterwards.
 */
export async function appDrift(modulePath: string, policy: Policy): Promise<DriftFinding[]> {
  let exports: Record<string, unknown>;
  try {
    const path = resolve(modulePath);
    const specifier = process.platform === 'win32' ? pathToFileURL(path).href : path;
    exports = (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new CliError(`cannot load the application module ${modulePath} (${reason})`, 2);
  }
  const app = await appOf(exports);
  const found = routesOfApp(app);
  if (found === undefined) {
    throw new CliError(
      `${modulePath} gives no application Tokenwarden knows: export the Express, Koa or Nest application (default or 'app'), or a function returning it, from a module that loads @tokenwarden/express, koa or nest`,
      2,
    );
  }
  try {
    return findPolicyDrift(policy, found.routes);
  } finally {
    const closable = app as { close?: unknown };
    if (found.framework === 'nest' && typeof closable.close === 'function') {
      await (closable.close as () => Promise<void>)();
    }
  }
}
