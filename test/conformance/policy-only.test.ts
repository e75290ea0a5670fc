import { describe } from '@jest/globals';
import { STORE_CASES } from '@tokenwarden/testing';
import type { AdapterDriver } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';
import { conformancePolicy } from './policy';
import { conformanceScenarios } from './suite';

// The same scenario table, each app driven by the policy alone: `policy` in the warden options
// and no route steps but what a policy cannot say (any-of scopes, claim checks).
const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];

describe.each(DRIVERS)('conformance by the policy alone: $name', (driver) => {
  describe.each(STORE_CASES)('on $name', (storeCase) =>
    conformanceScenarios(driver, storeCase, { policy: conformancePolicy() }),
  );
});
