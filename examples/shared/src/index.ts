/** What the Express, Koa and Nest examples share: data, store, demo issuer, warden and story. */
export { seedData, type Customer, type MarketingProfile, type Order } from './data';
export { storeFromEnv } from './store';
export { AUDIENCE, DemoIssuer, ISSUER, KEY_ID, demoSecret, type DemoTokenReply } from './issuer';
export { demoAppParts, type DemoApp, type DemoAppOptions, type DemoAppParts } from './app';
export { PURPOSES, demoWardenOptions } from './warden-options';
export { changeConsent, consentProof, type ConsentAnswer } from './consents';
export { servedPolicy } from './demo-policy';
export {
  demoPolicyPath,
  demoTokenService,
  type DemoClient,
  type DemoTokenService,
  type DemoTokenSink,
} from './token-service';
export { listen, type Listenable, type Listening } from './listen';
export {
  runStory,
  stepsByName,
  type StepName,
  type StoryOptions,
  type StoryResult,
  type StoryStep,
} from './story';
