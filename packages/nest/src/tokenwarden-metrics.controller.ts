import { Controller, Get, Inject, Res, SetMetadata, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { Warden } from '@tokenwarden/core';
import { metricsAnswer } from '@tokenwarden/core/internal';
import { EXEMPT_METADATA, TOKENWARDEN_WARDEN } from './tokens';

/**
 * Serves the warden's Prometheus metrics (`tokenwarden_*`). `TokenwardenModule` mounts it at
 * `metricsPath` (default `/metrics`). Like the Express adapter's metrics handler, it is open and
 * not audited: `TokenwardenGuard` lets it through. To mount it yourself, set `metricsPath: false`
 * and subclass it under your own `@Controller(path)` (add your own guard to protect it).
 */
@SetMetadata(EXEMPT_METADATA, true)
@Controller('metrics')
export class TokenwardenMetricsController {
  constructor(
    @Inject(TOKENWARDEN_WARDEN) private readonly warden: Warden,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
  ) {}

  /** The Prometheus text exposition. */
  @Get()
  async metrics(@Res({ passthrough: true }) response: unknown): Promise<string> {
    // A collector that throws gets a generic 500, never its message or a stack trace.
    const { status, headers, body } = await metricsAnswer(this.warden.metrics);
    const adapter = this.adapterHost.httpAdapter;
    adapter.status(response, status);
    for (const [name, value] of Object.entries(headers)) adapter.setHeader(response, name, value);
    return typeof body === 'string' ? body : JSON.stringify(body);
  }
}

/** The metrics controller mounted at `path` (a subclass, so several apps may differ). */
export function metricsControllerAt(path: string): Type<TokenwardenMetricsController> {
  class MountedMetricsController extends TokenwardenMetricsController {}
  Object.defineProperty(MountedMetricsController, 'name', {
    value: 'TokenwardenMetricsController',
  });
  Controller(path)(MountedMetricsController);
  return MountedMetricsController;
}
