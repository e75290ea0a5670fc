import { afterAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink, type Warden } from '@tokenwarden/core';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An example app as the consent-proof checks need it: its server, warden and token issuer. */
export interface ConsentProofApp {
  readonly server: Parameters<typeof request>[0];
  readonly warden: Warden;
  issue(client: string, scopes: string[], subject: string): string;
}

/**
 * The privacy portal of an example records proof of consent: the notice and evidence of a grant
 * in the record and the audit event, and a 400 for a notice without a version or hash.
 */
export function describeConsentProof(
  example: string,
  start: (sinks: MemorySink[]) => ConsentProofApp,
): void {
  describe(`${example} example: the privacy portal records proof of consent`, () => {
    const audit = new MemorySink();
    const { server, warden, issue } = start([audit]);
    const http = () => request(server);
    afterAll(async () => {
      await warden.close();
    });

    it('keeps the notice and evidence of a grant, in the record and the audit event', async () => {
      const portal = issue('privacy-portal', ['consents:write'], 'privacy-portal');
      const granted = await http()
        .put('/customers/c-1003/consents/marketing')
        .set(bearer(portal))
        .send({ notice: 'privacy-notice@2026-03', evidence: 'form-8841' });
      expect(granted.status).toBe(200);
      expect(granted.body).toMatchObject({
        subject: 'c-1003',
        purpose: 'marketing',
        notice: 'privacy-notice@2026-03',
        evidence: 'form-8841',
        source: 'privacy-portal',
      });
      await warden.flushAudit();
      expect(audit.events).toContainEqual(
        expect.objectContaining({
          type: 'consent.granted',
          detail: expect.objectContaining({
            notice: 'privacy-notice@2026-03',
            evidence: 'form-8841',
          }),
        }),
      );
    });

    it('refuses a notice without a version or hash with 400', async () => {
      const portal = issue('privacy-portal', ['consents:write'], 'privacy-portal');
      const bad = await http()
        .put('/customers/c-1003/consents/marketing')
        .set(bearer(portal))
        .send({ notice: 'privacy-notice' });
      expect(bad.status).toBe(400);
      expect(bad.body.error).toContain("notice must be '<id>@<version>'");
    });
  });
}
