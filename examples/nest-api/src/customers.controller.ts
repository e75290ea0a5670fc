import { Body, Controller, Get, Inject, NotFoundException, Param, Put } from '@nestjs/common';
import { CustomersRepository } from './customers.repository';

/**
 * Every route needs a valid, unrevoked token (the global guard) plus what tokenwarden.policy.yaml
 * says of it (scopes, consent or lawful basis, data subject): no decorator needed.
 */
@Controller('customers')
export class CustomersController {
  // Explicit @Inject: tsx (esbuild) emits no decorator metadata.
  constructor(@Inject(CustomersRepository) private readonly customers: CustomersRepository) {}

  @Get(':id')
  findOne(@Param('id') id: string) {
    return this.customers.find(id) ?? notFound();
  }

  @Put(':id')
  update(@Param('id') id: string, @Body() body: { email?: unknown } | undefined) {
    const customer = this.customers.find(id) ?? notFound();
    if (typeof body?.email === 'string') customer.email = body.email;
    return customer;
  }

  @Get(':id/orders')
  orders(@Param('id') id: string) {
    return this.customers.ordersOf(id);
  }

  @Get(':id/marketing-profile')
  marketingProfile(@Param('id') id: string) {
    return this.customers.marketingProfile(id) ?? notFound();
  }
}

function notFound(): never {
  throw new NotFoundException({ error: 'not found' });
}
