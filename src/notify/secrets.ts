// Every secret the loaded config holds (the Devin token, bind and Redis passwords, client secrets,
// the admin token, webhook secrets and URLs): replaced wherever run text would carry one into a
// message or a log line. The typed errors never carry them; this is the second line.
import type { LoadedConfig } from '../config/index.js';
import { isSecretKey } from '../config/paths.js';

export function secretsOf(config: LoadedConfig): string[] {
  const out = new Set<string>();
  const walk = (value: unknown, depth: number): void => {
    if (depth > 8 || value === null || typeof value !== 'object') return;
    for (const [key, v] of Object.entries(value)) {
      if (typeof v === 'string' && isSecretKey(key) && v.length > 0) out.add(v);
      else if (typeof v === 'object') walk(v, depth + 1);
    }
  };
  walk(config, 0);
  return [...out];
}
