import { Controller, Inject, Post, Req, Res, SetMetadata, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Warden } from '@tokenwarden/core';
import { answerSecretScanning, SecretScanning } from '@tokenwarden/core/internal';
import type {
  HandlerAnswer,
  ParsedTokenBody,
  SecretScanningOptions,
} from '@tokenwarden/core/internal';
import type { TokenHttpRequest } from '@tokenwarden/core/internal';
import { EXEMPT_METADATA, TOKENWARDEN_WARDEN } from './tokens';

/** Options of {@link secretScanningController}: core's, with the module's warden by default. */
export interface SecretScanningControllerOptions extends Omit<SecretScanningOptions, 'warden'> {
  /** Path the scanner POSTs to. Default: `'secret-scanning'`. */
  readonly path?: string;
  /** The warden to answer for. Default: the one `TokenwardenModule` provides. */
  readonly warden?: Warden;
}

/** Either platform's request: Express's is the Node request; Fastify's keeps it in `raw`. */
type RequestLike = TokenHttpRequest & ParsedTokenBody & { readonly raw?: TokenHttpRequest };

/**
 * A controller for a secret scanner's reports (GitHub's secret-scanning partner format), open to
 * the scanner without a token (`TokenwardenGuard` lets it through): core's `SecretScanning`
 * verifies the ECDSA signature against `publicKeys`, revokes the warden's credentials the report
 * names, and answers `true_positive` / `false_positive` per token. The signature covers the raw
 * body, which Nest's body parser consumes: create the application with `rawBody: true`
 * (`NestFactory.create(AppModule, { rawBody: true })`, either platform), or the controller
 * answers a generic 500 and logs what to change. Bad keys fail at start-up.
 *
 * @example
 * @Module({
 *   imports: [TokenwardenModule.forRoot({ jwt })],
 *   controllers: [secretScanningController({ path: 'leaks/github', publicKeys })],
 * })
 */
export function secretScanningController(options: SecretScanningControllerOptions): Type<unknown> {
  const { path = 'secret-scanning', warden: given, ...rest } = options;

  @SetMetadata(EXEMPT_METADATA, true)
  @Controller()
  class TokenwardenSecretScanningController {
    private readonly scanning: SecretScanning;

    constructor(
      @Inject(TOKENWARDEN_WARDEN) warden: Warden,
      @Inject(HttpAdapterHost) private readonly host: HttpAdapterHost,
    ) {
      this.scanning = new SecretScanning({ ...rest, warden: given ?? warden });
    }

    async report(request: RequestLike, response: unknown): Promise<unknown> {
      const node = request.raw ?? request;
      return this.send(response, await answerSecretScanning(this.scanning, node, request));
    }

    private send(response: unknown, answer: HandlerAnswer): unknown {
      const adapter = this.host.httpAdapter;
      adapter.status(response, answer.status);
      for (const [name, value] of Object.entries(answer.headers)) {
        adapter.setHeader(response, name, value);
      }
      return answer.body;
    }
  }
  const proto = TokenwardenSecretScanningController.prototype;
  Req()(proto, 'report', 0);
  Res({ passthrough: true })(proto, 'report', 1);
  Post(path)(proto, 'report', Object.getOwnPropertyDescriptor(proto, 'report')!);
  return TokenwardenSecretScanningController;
}
