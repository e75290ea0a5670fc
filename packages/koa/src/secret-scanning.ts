import type { Context, Middleware } from 'koa';
import { answerSecretScanning, SecretScanning } from '@tokenwarden/core/internal';
import type { ParsedTokenBody, SecretScanningOptions } from '@tokenwarden/core/internal';

export type { SecretScanningOptions } from '@tokenwarden/core/internal';

/**
 * A secret scanner's endpoint (GitHub's secret-scanning partner format): verifies the report's
 * ECDSA signature against the configured `publicKeys`, revokes the warden's credentials it names
 * and answers `true_positive` / `false_positive` per token (core's `SecretScanning`). Mount it on
 * a router above `app.use(tw)` (the scanner sends no token). The signature covers the raw body:
 * mount it before a body parser, or use one that keeps `ctx.request.rawBody` (@koa/bodyparser).
 *
 * @example
 * open.post('/leaks/github', secretScanningHandler({ warden: tw.warden, publicKeys }));
 */
export function secretScanningHandler(options: SecretScanningOptions): Middleware {
  const scanning = new SecretScanning(options);
  return async function tokenwardenSecretScanning(ctx: Context) {
    const answer = await answerSecretScanning(scanning, ctx.req, ctx.request as ParsedTokenBody);
    ctx.status = answer.status;
    ctx.set(answer.headers);
    ctx.body = answer.body;
  };
}
