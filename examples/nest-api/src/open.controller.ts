import { BadRequestException, Body, Controller, Get, HttpCode, Inject, Post } from '@nestjs/common';
import { Public } from '@tokenwarden/nest';
import { DemoIssuer } from '@tokenwarden/example-shared';

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
  issue(@Body() body: unknown) {
    const reply = this.issuer.reply(body);
    if (reply.status === 400) throw new BadRequestException(reply.body);
    return reply.body;
  }
}
