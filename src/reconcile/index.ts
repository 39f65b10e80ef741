export { type DesiredState, desiredState } from './desiredState.js';
export { diff } from './diff.js';
export { canonicalJson, fingerprintOps } from './fingerprint.js';
export { guardrails, removalCount } from './guardrails.js';
export * from './plan.js';
export { type PlanInput, planSync, summarise } from './planSync.js';
export * from './policy.js';
export { PolicyResolutionError } from './resolve.js';
export { type DriftedOp, findDrift } from './staleness.js';
