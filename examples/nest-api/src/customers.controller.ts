import { Body, Controller, Get, Inject, NotFoundException, Param, Put } from '@nestjs/common';
import { Consent, LawfulBasis, Scopes } from '@tokenwarden/nest';
import { CustomersRepository } from './customers.repository';

/** Every route needs a valid, unrevoked token (the global guard) plus what it declares here. */
@Controller('customers')
export class CustomersController {
  // Explicit @Inject: tsx (esbuild) emits no decorator metadata.
  constructor(@Inject(CustomersRepository) private readonly customers: CustomersRepository) {}

  @Scopes('customers:read')
  @LawfulBasis('contract')
  @Get(':id')
  findOne(@Param('id') id: string) {
    return this.customers.find(id) ?? notFound();
  }

  @Scopes('customers:write')
  @Put(':id')
  update(@Param('id') id: string, @Body() body: { email?: unknown } | undefined) {
    const customer = this.customers.find(id) ?? notFound();
    if (typeof body?.email === 'string') customer.email = body.email;
    return customer;
  }

  @Scopes('orders:read')
  @LawfulBasis('contract', { purpose: 'order_fulfilment' })
  @Get(':id/orders')
  orders(@Param('id') id: string) {
    return this.customers.ordersOf(id);
  }

  // The data subject is the customer in the path, not the caller.
  @Scopes('marketing:read')
  @Consent('marketing', { subject: { param: 'id' } })
  @Get(':id/marketing-profile')
  marketingProfile(@Param('id') id: string) {
    return this.customers.marketingProfile(id) ?? notFound();
  }
}

function notFound(): never {
  throw new NotFoundException({ error: 'not found' });
}
