// Devin v3 API simulator: a real HTTP server that behaves like the public Devin API docs (as gathered in spec/devin-v3-identity.openapi.yaml) for the
// identity subset, with fault injection and a request log for tests and benchmarks.

export { type FaultConfig, FaultConfigSchema, type FaultRule } from './faults.js';
export { ALL_PERMISSIONS, BUILTIN_ROLES, type GenerateSeedOptions, generateSeed } from './generate.js';
export { type ProblemBody, SimError, type ValidationItem } from './problems.js';
export {
  type HiddenRateLimit,
  HiddenRateLimitSchema,
  type RateLimitStats,
} from './rateLimit.js';
export type { RequestLogEntry, RequestOutcome } from './requestLog.js';
export { NOT_IMPLEMENTED_ROUTES } from './routes.js';
export { loadSeedFile, parseSeed, SeedError, SimulatorSeed, type SimulatorSeedInput } from './seed.js';
export { type RunningSimulator, type StartSimulatorOptions, startSimulator } from './server.js';
export { ADMIN_ROLE_ID, SEMANTICS, type Semantics, SimState } from './state.js';
