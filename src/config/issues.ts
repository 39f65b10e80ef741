// zod issues → operator-facing problems: `path: expected X, found Y`, at a line and column, with
// secrets never echoed.
import type { z } from 'zod';
import type { ConfigProblem } from './errors.js';
import { type ConfigPath, formatPath, isSecretPath, valueAt } from './paths.js';
import { knownKeys } from './schemaWalk.js';
import { suggest } from './suggest.js';
import type { YamlSource } from './yamlSource.js';

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

const quoteAll = (values: readonly unknown[]): string => values.map((v) => JSON.stringify(v)).join(', ');

/**
 * Per-parse error map: turns every built-in issue into the *expected* half of a message. Schema-level
 * `error`s (schema.ts) take precedence and follow the same convention.
 */
export const expectedPhrase: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_NAMES[issue.expected] ?? `a ${issue.expected}`;
    case 'too_small': {
      const min = Number(issue.minimum);
      if (issue.origin === 'string') return min === 1 ? 'a non-empty string' : `at least ${min} characters`;
      if (issue.origin === 'array') return min === 1 ? 'at least one item' : `at least ${min} items`;
      return `a number ${issue.inclusive ? '>=' : '>'} ${min}`;
    }
    case 'too_big': {
      const max = Number(issue.maximum);
      if (issue.origin === 'string') return `at most ${max} characters`;
      if (issue.origin === 'array') return `at most ${max} items`;
      return `a number ${issue.inclusive ? '<=' : '<'} ${max}`;
    }
    case 'invalid_format':
      if (issue.format === 'email') return 'an email address';
      if (issue.format === 'url') return 'a URL';
      if (issue.format === 'guid' || issue.format === 'uuid') return 'a GUID';
      return `a ${issue.format}`;
    case 'invalid_value':
      return issue.values.length === 1 ? quoteAll(issue.values) : `one of ${quoteAll(issue.values)}`;
    case 'not_multiple_of':
      return `a multiple of ${String(issue.divisor)}`;
    default:
      return undefined;
  }
};

/** Variables a value was substituted from; such a value is never shown (it may be a misplaced secret). */
export type HiddenAt = (path: ConfigPath) => readonly string[] | undefined;

const fromVariables = (names: readonly string[]): string =>
  `a value from ${names.map((n) => `\${${n}}`).join(', ')} (not shown)`;

/** A string for a message, shortened: a key or value can be megabytes long. */
export function quoteShort(value: string, max = 80): string {
  return JSON.stringify(value.length > max ? `${value.slice(0, max - 3)}...` : value);
}

/** What was found, for a message. Secrets are never shown, whatever their type. */
export function describeFound(value: unknown, path: ConfigPath, hidden?: readonly string[]): string {
  if (value === undefined) return 'nothing';
  if (isSecretPath(path)) return '[redacted]';
  if (
    hidden !== undefined &&
    (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
  ) {
    return fromVariables(hidden);
  }
  if (value === null) return 'an empty value';
  if (typeof value === 'string') return quoteShort(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : 'a mapping';
  return String(value);
}

/**
 * A complete custom message about a substituted value, with the value taken out: its quoted form
 * becomes the variables' names; a message that still shows it keeps only its "expected" half.
 */
function withoutValue(message: string, value: unknown, hidden: readonly string[]): string {
  if (typeof value !== 'string' && typeof value !== 'number') return message;
  const text = String(value);
  const replaced = message.replaceAll(JSON.stringify(value), fromVariables(hidden));
  if (text === '' || !replaced.includes(text)) return replaced;
  const cut = replaced.indexOf(', found ');
  return cut >= 0
    ? `${replaced.slice(0, cut)}, found ${fromVariables(hidden)}`
    : `expected another value, found ${fromVariables(hidden)}`;
}

function hint(issue: z.core.$ZodIssue, value: unknown, path: ConfigPath, hidden: boolean): string {
  if (issue.code !== 'invalid_type' || typeof value !== 'string' || isSecretPath(path)) return '';
  if (issue.expected === 'boolean' && /^(?:y|n|yes|no|on|off)$/i.test(value)) {
    return hidden
      ? ' (YAML 1.2 reads yes, no, on and off as strings: write true or false)'
      : ` (YAML 1.2 reads ${value} as a string: write true or false)`;
  }
  if ((issue.expected === 'number' || issue.expected === 'int') && /^[-+]?[0-9.]+$/.test(value)) {
    return ' (a quoted number is a string: remove the quotes)';
  }
  if (issue.expected === 'array')
    return hidden ? ' (write a list)' : ` (write a list: [${value}], or one "- item" per line)`;
  return '';
}

function didYouMean(word: unknown, candidates: readonly string[]): string {
  if (typeof word !== 'string' || word.length > 64) return '';
  const s = suggest(word, candidates);
  return s === undefined || s === word ? '' : `; did you mean ${JSON.stringify(s)}?`;
}

export interface ProblemOptions {
  /** Values that came from `${VAR}`: never shown. */
  hidden?: HiddenAt;
  /**
   * Stop working out messages after this many problems (each costs a lookup in the document and a
   * "did you mean"); the rest are only counted, in `omitted`.
   */
  limit?: number;
}

export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.ZodType,
  src: YamlSource,
  options: ProblemOptions = {},
): { problems: ConfigProblem[]; omitted: number } {
  const problems: ConfigProblem[] = [];
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let omitted = 0;
  const at = (path: ConfigPath, message: () => string, key = false): void => {
    if (problems.length >= limit) {
      omitted++;
      return;
    }
    const pos = key ? src.locateKey(path) : src.locate(path);
    problems.push({ path: formatPath(path), line: pos.line, column: pos.column, message: message() });
  };

  for (const issue of issues) {
    const path = issue.path;
    if (problems.length >= limit) {
      omitted += issue.code === 'unrecognized_keys' ? issue.keys.length : 1;
      continue;
    }
    const value = valueAt(data, path);
    const hidden = options.hidden?.(path);
    const found = (): string => describeFound(value, path, hidden);
    const close = (candidates: readonly string[]): string =>
      hidden !== undefined || isSecretPath(path) ? '' : didYouMean(value, candidates);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(schema, path, data);
        for (const key of issue.keys) {
          at(
            [...path, key],
            () => {
              const near = didYouMean(key, known);
              const list = known.length > 0 ? `; expected one of: ${known.join(', ')}` : '';
              return `unknown key ${quoteShort(key)}${near || list}`;
            },
            true,
          );
        }
        break;
      }
      case 'invalid_union': {
        const options = 'options' in issue ? issue.options?.map(String) : undefined;
        if (issue.discriminator !== undefined && options !== undefined) {
          at(path, () => `expected one of ${quoteAll(options)}, found ${found()}${close(options)}`);
        } else {
          at(path, () => `expected ${issue.message}, found ${found()}`);
        }
        break;
      }
      case 'custom':
        at(path, () => (hidden === undefined ? issue.message : withoutValue(issue.message, value, hidden)));
        break;
      case 'invalid_value': {
        at(path, () => `expected ${issue.message}, found ${found()}${close(issue.values.map(String))}`);
        break;
      }
      default: {
        // A scalar where a section belongs (`devin: cog_…`) is likely a misplaced secret: name its type only.
        const misplaced =
          issue.code === 'invalid_type' &&
          issue.expected === 'object' &&
          (typeof value === 'string' || typeof value === 'number');
        at(path, () => {
          const what = misplaced ? `a ${typeof value}` : found();
          return `expected ${issue.message}, found ${what}${hint(issue, value, path, hidden !== undefined)}`;
        });
      }
    }
  }
  return { problems, omitted };
}
