import { Controller, Get, Inject, Res, SetMetadata, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Warden } from '@tokenwarden/core';
import { healthAnswer } from '@tokenwarden/core/internal';
import { EXEMPT_METADATA, TOKENWARDEN_WARDEN } from './tokens';

/**
 * Answers readiness probes: 200 `{ status: 'ok' }` once `warden.ready()` resolves (the store
 * answers, the audit trail takes events, trusted issuers' keys are loaded), else 503
 * `{ status: 'unavailable', reason }` with a stable code and no internal detail. Open and not
 * audited, like the metrics controller. `TokenwardenModule` mounts it at `healthPath` (default:
 * none); to mount it yourself, subclass it under your own `@Controller(path)`.
 */
@SetMetadata(EXEMPT_METADATA, true)
@Controller('health')
export class TokenwardenHealthController {
  constructor(
    @Inject(TOKENWARDEN_WARDEN) private readonly warden: Warden,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** The readiness of the warden, as JSON. */
  @Get()
  async health(@Res({ passthrough: true }) response: unknown): Promise<Record<string, unknown>> {
    const { status, headers, body } = await healthAnswer(this.warden);
    const adapter = this.adapterHost.httpAdapter;
    adapter.status(response, status);
    for (const [name, value] of Object.entries(headers)) adapter.setHeader(response, name, value);
    return typeof body === 'string' ? { status: body } : { ...body };
  }
}

/** The health controller mounted at `path` (a subclass, so several apps may differ). */
export function healthControllerAt(path: string): Type<TokenwardenHealthController> {
  class MountedHealthController extends TokenwardenHealthController {}
  Object.defineProperty(MountedHealthController, 'name', { value: 'TokenwardenHealthController' });
  Controller(path)(MountedHealthController);
  return MountedHealthController;
}
