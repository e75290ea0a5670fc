import { Injectable } from '@nestjs/common';
// The same made-up customers as the Express and Koa examples.
import {
  seedData,
  type Customer,
  type MarketingProfile,
  type Order,
} from '@tokenwarden/example-shared';

/** The personal data this API guards, in memory. */
@Injectable()
export class CustomersRepository {
  private readonly data = seedData();

  find(id: string): Customer | undefined {
    return this.data.customers.get(id);
  }

  ordersOf(id: string): Order[] {
    return this.data.orders.filter((o) => o.customerId === id);
  }

  marketingProfile(id: string): MarketingProfile | undefined {
    return this.data.profiles.get(id);
  }
}
