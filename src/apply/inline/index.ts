export { DEFAULT_CONCURRENCY, type ExecuteDeps, executePlan } from './executor.js';
export {
  type HandlerContext,
  handleOp,
  InviteIncompleteError,
  MAX_ROUNDS,
  OpPreconditionError,
} from './handlers.js';
export { type ProgressStream, progressPrinter } from './progress.js';
