/**
 * `@tokenwarden/core/reports`: the accountability reports (exposure, access, least privilege,
 * hygiene, records of processing, breach), the audit sources they read and their rendering.
 * Offline code: it loads only when this entry is imported, never on the request path of
 * `@tokenwarden/core`.
 */
export * from './report';
