import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { DemoIssuer } from '@tokenwarden/example-shared';

// Open by the policy (public: true), like every route it declares.
@Controller('health')
export class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}

/** Demo only: mints tokens for anyone. A real deployment gets tokens from its identity provider. */
@Controller('demo/token')
export class DemoTokenController {
  constructor(@Inject(DemoIssuer) private readonly issuer: DemoIssuer) {}

  @Post()
  @HttpCode(200)
  issue(@Body() body: unknown) {
    const reply = this.issuer.reply(body);
    if (reply.status === 400) throw new BadRequestException(reply.body);
    return reply.body;
  }
}
