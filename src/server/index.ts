export { DASHBOARD_PREFIX } from './admin.js';
export { buildServer, type ServerDeps } from './app.js';
export { ADMIN_TOKEN_ACTOR } from './auth.js';
export type { ErrorBody } from './http.js';
export { createMetrics, METRIC_PREFIX, observeDevinExchanges } from './metrics.js';
export {
  type ParsedSignature,
  parseSignatureHeader,
  SIGNATURE_HEADER,
  SIGNATURE_TOLERANCE_SECONDS,
  signWebhook,
  type VerifyResult,
  verifyWebhookSignature,
} from './signature.js';
