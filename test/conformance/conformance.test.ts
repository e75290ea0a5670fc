import { describe } from '@jest/globals';
import { STORE_CASES } from '@tokenwarden/testing';
import type { AdapterDriver } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';
import { conformanceScenarios } from './suite';

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];

describe.each(DRIVERS)('conformance: $name', (driver) => {
  describe.each(STORE_CASES)('on $name', (storeCase) => conformanceScenarios(driver, storeCase));
});
