/** Settings shared by kill.test.ts and the application process it kills (kill-app.ts). */
export const KILL_ISSUER = 'https://issuer.kill.test/';
export const KILL_AUDIENCE = 'kill-test-api';
