/** A small, made-up customer base: the personal data the example APIs guard. */
export interface Customer {
  id: string;
  name: string;
  email: string;
}

export interface Order {
  id: string;
  customerId: string;
  total: number;
}

export interface MarketingProfile {
  customerId: string;
  segments: string[];
  newsletter: boolean;
}

export function seedData() {
  const customers = new Map<string, Customer>([
    ['c-1001', { id: 'c-1001', name: 'Ada Example', email: 'ada@example.test' }],
    ['c-1002', { id: 'c-1002', name: 'Björn Sample', email: 'bjorn@example.test' }],
  ]);
  const orders: Order[] = [
    { id: 'o-1', customerId: 'c-1001', total: 42.5 },
    { id: 'o-2', customerId: 'c-1001', total: 19.99 },
    { id: 'o-3', customerId: 'c-1002', total: 7 },
  ];
  const profiles = new Map<string, MarketingProfile>([
    ['c-1001', { customerId: 'c-1001', segments: ['outdoor', 'books'], newsletter: true }],
    ['c-1002', { customerId: 'c-1002', segments: ['music'], newsletter: false }],
  ]);
  return { customers, orders, profiles };
}
