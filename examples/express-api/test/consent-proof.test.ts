import { createApp } from '../src/app';
import { describeConsentProof } from '../../shared/test/consent-proof';

describeConsentProof('express-api', (sinks) => {
  const { app, tw, issue } = createApp({ sinks });
  return { server: app, warden: tw.warden, issue };
});
