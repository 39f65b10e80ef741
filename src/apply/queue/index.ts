// The queue executor (docs/design.md §7): BullMQ jobs on Redis, sharing the inline executor's handlers.
export type { OpJobData, RunJobData, StoredOpResult } from './jobs.js';
export * from './names.js';
export { createOpProcessor, isTransient, type OpJobOutcome, type OpWorkerDeps } from './opWorker.js';
export {
  type ApplyOptions,
  type ApplyOutcome,
  type ApplyRunDeps,
  applyRun,
  HandBackError,
  RunLostError,
} from './orchestrator.js';
export type { QueueMetrics, RunProgressStore } from './types.js';
