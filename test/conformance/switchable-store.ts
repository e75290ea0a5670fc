import {
  StoreUnavailableError,
  type StoreQuery,
  type StoreSnapshot,
  type WardenStore,
} from '@tokenwarden/core';

/** Wraps a store; while `failing`, every request-path call rejects as a dead backend would. */
export class SwitchableStore implements WardenStore {
  failing = false;

  constructor(readonly inner: WardenStore) {}

  lookup(query: StoreQuery): Promise<StoreSnapshot> {
    return this.failing ? this.down() : this.inner.lookup(query);
  }
  revokeToken(...args: Parameters<WardenStore['revokeToken']>) {
    return this.inner.revokeToken(...args);
  }
  setNotBefore(...args: Parameters<WardenStore['setNotBefore']>) {
    return this.inner.setNotBefore(...args);
  }
  grantConsent(...args: Parameters<WardenStore['grantConsent']>) {
    return this.inner.grantConsent(...args);
  }
  withdrawConsent(...args: Parameters<WardenStore['withdrawConsent']>) {
    return this.inner.withdrawConsent(...args);
  }
  getConsent(subject: string, purpose: string) {
    return this.failing ? this.down() : this.inner.getConsent(subject, purpose);
  }
  consentRecords(subject: string) {
    return this.failing ? this.down() : this.inner.consentRecords(subject);
  }
  eraseConsent(subject: string) {
    return this.failing ? this.down() : this.inner.eraseConsent(subject);
  }
  close() {
    return this.inner.close();
  }
  private down(): Promise<never> {
    return Promise.reject(new StoreUnavailableError('switched off for the test'));
  }
}
