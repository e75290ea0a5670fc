import { afterAll, beforeAll, describe } from '@jest/globals';
import { RedisStore } from '@tokenwarden/redis';
import type { AdapterDriver } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { conformanceScenarios } from '../conformance/suite';
import { startCluster, type TestCluster } from './cluster-rig';

/**
 * The adapter conformance scenarios (test/conformance/scenarios.ts) on a `RedisStore` of layout
 * `'sharded'` over a three-master Redis Cluster started here: each request reads its subject's
 * bucket on whichever master serves it, and every answer, audit event and metric is the one the
 * in-memory and single-node stores give.
 */

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver];
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

describe.each(DRIVERS)("conformance on a three-master Cluster, layout 'sharded': $name", (driver) =>
  conformanceScenarios(driver, {
    name: 'sharded-cluster',
    make: async () => {
      const store = new RedisStore({
        client: cluster.client,
        prefix: `conf-${driver.name}:`,
        layout: 'sharded',
        commandTimeoutMs: 1_000,
      });
      return { store, cleanup: () => store.close() };
    },
  }),
);
