/** The verifier: one entry point, the report model and the trust store loader. */
export { validatePdf } from './validate.js';
export type { ValidationContext, StatusLookupResult } from './context.js';
export { loadTrustStore, certificatesIn } from './trust-store.js';
export type * from './report.js';
export { CHANGE_KINDS } from './report.js';
