import { expect } from '@jest/globals';
import { runStory, stepsByName, type StoryOptions, type StoryStep } from '../src';

/**
 * Runs the story against an example app, with the orders read, and checks what every example
 * must answer: each status and code, the customer, their two orders, the marketing profile.
 */
export async function expectStory(options: StoryOptions): Promise<StoryStep[]> {
  const { ok, steps } = await runStory({ ...options, readOrders: true });
  expect(steps.map((s) => s.status)).toEqual([200, 200, 200, 403, 401, 200, 403, 403, 200]);
  expect(steps.map((s) => s.status)).toEqual(steps.map((s) => s.expected));
  expect(steps.map((s) => s.code)).toEqual(steps.map((s) => s.expectedCode));
  expect(ok).toBe(true);
  const step = stepsByName(steps);
  expect(step.read?.body).toMatchObject({ id: 'c-1001', name: 'Ada Example' });
  expect(step.orders?.body).toHaveLength(2);
  expect(step.consented?.body).toMatchObject({ customerId: 'c-1001' });
  return steps;
}

/** The bearer tokens the story sent, to prove the audit trail holds none of them. */
export function tokensOf(steps: readonly StoryStep[]): string[] {
  return steps.flatMap((s) => (s.token ? [s.token] : []));
}
