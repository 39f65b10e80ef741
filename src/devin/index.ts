export {
  type ClientStats,
  DevinBulkError,
  DevinClient,
  DevinClientConfigError,
  type DevinClientOptions,
  type ExchangeEvent,
  type ListOptions,
} from './client.js';
export {
  DevinApiError,
  DevinError,
  DevinNetworkError,
  DevinPaginationError,
  DevinResponseError,
} from './errors.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retryPolicy.js';
export { ROUTES } from './routes.js';
export * from './schemas.js';
export { assembleSnapshot, readDevinSnapshot } from './snapshot.js';
