// `${VAR}` substitution in the string values of a parsed YAML document, before validation.
// Working on the document (not the raw text) keeps comments and keys out of it and lets each
// unset variable be reported at its own line and column.
import { isAlias, isMap, isPair, isScalar, isSeq, type Scalar } from 'yaml';
import type { ConfigProblem } from './errors.js';
import { type ConfigPath, formatPath } from './paths.js';
import type { YamlSource } from './yamlSource.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface SubstitutionResult {
  problems: ConfigProblem[];
  /** Paths of values that could not be substituted; validation skips them (already reported). */
  failedPaths: ConfigPath[];
  /**
   * Values that took text from the environment, with the variables they used. A message about such
   * a value names the variables, never the value: it may be a secret that landed in the wrong key.
   */
  substituted: Array<{ path: ConfigPath; names: string[] }>;
}

// `$${` is a literal `${`; `${NAME}` a variable; any other `${…}` is malformed.
const TOKEN = /\$\$\{|\$\{([^}]*)\}?/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

// YAML 1.2 core-schema numbers and booleans. A plain `port: ${PORT}` becomes a number, as if the
// value had been written in place, but only where the schema wants a number (or a boolean): a
// role id or a token made of digits stays text. Quoted scalars always stay strings.
const CORE_NUMBER = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
const CORE_BOOL = /^(?:true|True|TRUE|false|False|FALSE)$/;

/** What the schema expects at a path, for typing substituted plain scalars. */
export type ScalarKindAt = (path: ConfigPath) => 'number' | 'boolean' | undefined;

type Expansion =
  | { ok: true; value: string; names: string[] }
  | { ok: false; errors: { offset: number; message: string }[] };

/** Expands one string. Offsets in errors are into `text`. */
export function expand(text: string, env: Env): Expansion {
  const errors: { offset: number; message: string }[] = [];
  const names: string[] = [];
  const value = text.replace(TOKEN, (match: string, name: string | undefined, offset: number) => {
    if (match === '$${') return '${';
    if (!match.endsWith('}')) {
      errors.push({
        offset,
        message: `unterminated variable reference ${JSON.stringify(match)}: expected \${NAME}`,
      });
      return match;
    }
    if (name === undefined || !NAME.test(name)) {
      errors.push({
        offset,
        message: `invalid variable reference ${JSON.stringify(match)}: expected \${NAME} with letters, digits and _ (write $\${ for a literal \${)`,
      });
      return match;
    }
    const v = env[name];
    if (v === undefined) {
      errors.push({ offset, message: `environment variable ${name} is not set` });
      return match;
    }
    if (!names.includes(name)) names.push(name);
    return v;
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value, names };
}

function retype(scalar: Scalar, value: string, kind: 'number' | 'boolean' | undefined): void {
  if (scalar.type === 'PLAIN' && kind === 'number' && CORE_NUMBER.test(value)) scalar.value = Number(value);
  else if (scalar.type === 'PLAIN' && kind === 'boolean' && CORE_BOOL.test(value))
    scalar.value = value.toLowerCase() === 'true';
  else scalar.value = value;
}

/** Substitutes in place. Map keys are left alone: only values are configuration data. */
export function substituteEnv(
  src: YamlSource,
  env: Env,
  sourceText: string,
  kindAt: ScalarKindAt = () => undefined,
): SubstitutionResult {
  const problems: ConfigProblem[] = [];
  const failedPaths: ConfigPath[] = [];
  const substituted: Array<{ path: ConfigPath; names: string[] }> = [];

  const visit = (node: unknown, path: PropertyKey[]): void => {
    if (isAlias(node)) return; // its anchor is visited where it is defined
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        visit(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        visit(item, [...path, i]);
      });
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const result = expand(node.value, env);
      if (result.ok) {
        retype(node, result.value, kindAt(path));
        if (result.names.length > 0) substituted.push({ path, names: result.names });
        return;
      }
      failedPaths.push(path);
      const start = node.range?.[0];
      const raw = start === undefined ? '' : sourceText.slice(start, node.range?.[1]);
      for (const e of result.errors) {
        // Point at the `${` itself when it appears verbatim in the source (no escapes in between).
        const reference = node.value.slice(e.offset).match(/^\$\{[^}]*\}?/)?.[0] ?? '';
        const inRaw = reference === '' ? -1 : raw.indexOf(reference);
        const offset = start === undefined ? undefined : start + Math.max(inRaw, 0);
        const pos = offset === undefined ? undefined : src.position(offset);
        problems.push({
          path: formatPath(path),
          ...(pos ? { line: pos.line, column: pos.column } : {}),
          message: e.message,
        });
      }
    }
  };

  visit(src.doc.contents, []);
  return { problems, failedPaths, substituted };
}
