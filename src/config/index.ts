// The config module: load and validate idsync.yaml, and describe its shape.

export { type Env, expand } from './env.js';
export { ConfigError, type ConfigProblem, formatProblem } from './errors.js';
export { defaultConfigPath, type LoadOptions, loadConfig, loadConfigText } from './load.js';
export { type ConfigPath, formatPath, redactSecrets } from './paths.js';
export {
  type DevinRefs,
  matchByIdOrName,
  type ReferenceProblem,
  type ResolvedReferences,
  resolveDevinReferences,
} from './references.js';
export {
  type ConfigInput,
  type ConfigOutput,
  ConfigSchema,
  configJsonSchema,
  parseDuration,
} from './schema.js';
export { toPolicy } from './toPolicy.js';
export type {
  DevinSettings,
  EntraCredential,
  EntraSourceConfig,
  FileSourceConfig,
  HttpLimits,
  LdapSourceConfig,
  LoadedConfig,
  ServerSettings,
  SourceConfig,
} from './types.js';
export type { Position } from './yamlSource.js';
