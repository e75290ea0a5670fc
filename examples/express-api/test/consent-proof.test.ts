import { afterAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { createApp } from '../src/app';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('express-api example: the privacy portal records proof of consent', () => {
  const audit = new MemorySink();
  const { app, tw, issue } = createApp({ sinks: [audit] });
  const http = () => request(app);
  afterAll(async () => {
    await tw.warden.close();
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
    await tw.warden.flushAudit();
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
