// Key paths as operators read them: `mappings[1].orgs[0].role`.

export type ConfigPath = ReadonlyArray<PropertyKey>;

export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Keys whose values are secrets: never echoed in an error, whatever their type. */
// webhookUrl: Slack's and Teams' webhook URLs let whoever holds them post (notify.*.webhookUrlFile).
const SECRET_KEY = /(token|password|secret|privatekey|clientstate|webhookurl)$/i;

export function isSecretKey(key: PropertyKey): boolean {
  return typeof key === 'string' && SECRET_KEY.test(key);
}

export function isSecretPath(path: ConfigPath): boolean {
  return path.some(isSecretKey);
}

/** A copy with every secret value replaced, for anything that serialises the config (logs, JSON). */
export function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k,
      isSecretKey(k) && v !== undefined ? '[REDACTED]' : redactSecrets(v),
    ]),
  );
}

/** Reads `path` out of plain parsed data; undefined where the path leads nowhere. */
export function valueAt(data: unknown, path: ConfigPath): unknown {
  let cur: unknown = data;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

export function startsWith(path: ConfigPath, prefix: ConfigPath): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => seg === path[i]);
}
