import { createApp } from '../src/app';
import { describeConsentProof } from '../../shared/test/consent-proof';

describeConsentProof('koa-api', (sinks) => {
  const { app, tw, issue } = createApp({ sinks });
  return { server: app.callback(), warden: tw.warden, issue };
});
