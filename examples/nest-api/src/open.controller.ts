import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { Public } from '@tokenwarden/nest';
import { DemoIssuer } from './demo-issuer';

@Controller('health')
export class HealthController {
  @Public()
  @Get()
  health() {
    return { status: 'ok' };
  }
}

/** Demo only: mints tokens for anyone. A real deployment gets tokens from its identity provider. */
@Public()
@Controller('demo/token')
export class DemoTokenController {
  constructor(@Inject(DemoIssuer) private readonly issuer: DemoIssuer) {}

  @Post()
  @HttpCode(200)
  issue(@Body() body: { subject?: unknown; scopes?: unknown; client?: unknown } | undefined) {
    if (typeof body?.subject !== 'string' || !Array.isArray(body.scopes)) {
      throw new BadRequestException({ error: 'give { subject, scopes: [...] }' });
    }
    const scopes = body.scopes.filter((s): s is string => typeof s === 'string');
    const client = typeof body.client === 'string' ? body.client : undefined;
    return { access_token: this.issuer.issue(body.subject, scopes, client), expires_in: 600 };
  }
}
