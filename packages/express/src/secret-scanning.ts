import type { RequestHandler } from 'express';
import { answerSecretScanning, SecretScanning } from '@tokenwarden/core/internal';
import type { ParsedTokenBody, SecretScanningOptions } from '@tokenwarden/core/internal';

export type { SecretScanningOptions } from '@tokenwarden/core/internal';

/**
 * A secret scanner's endpoint (GitHub's secret-scanning partner format): verifies the report's
 * ECDSA signature against the configured `publicKeys`, revokes the warden's credentials it names
 * and answers `true_positive` / `false_positive` per token (core's `SecretScanning`). Mount it
 * above `app.use(tw)` (the scanner sends no token) and before any JSON body parser: the signature
 * covers the raw body. A parser that keeps the raw body as `req.rawBody` works too.
 *
 * @example
 * app.post('/leaks/github', secretScanningHandler({ warden: tw.warden, publicKeys }));
 * app.use(tw);
 */
export function secretScanningHandler(options: SecretScanningOptions): RequestHandler {
  const scanning = new SecretScanning(options);
  return function tokenwardenSecretScanning(req, res, next) {
    answerSecretScanning(scanning, req, req as ParsedTokenBody).then((answer) => {
      res.status(answer.status).set(answer.headers);
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
    }, next);
  };
}
