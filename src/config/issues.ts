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

/** What was found, for a message. Secrets are never shown, whatever their type. */
export function describeFound(value: unknown, path: ConfigPath): string {
  if (value === undefined) return 'nothing';
  if (isSecretPath(path)) return '[redacted]';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(shown);
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : `a list of ${value.length}`;
  if (typeof value === 'object') return Object.keys(value).length === 0 ? 'an empty mapping' : 'a mapping';
  return String(value);
}

function hint(issue: z.core.$ZodIssue, value: unknown, path: ConfigPath): string {
  if (issue.code !== 'invalid_type' || typeof value !== 'string' || isSecretPath(path)) return '';
  if (issue.expected === 'boolean' && /^(?:y|n|yes|no|on|off)$/i.test(value)) {
    return ` (YAML 1.2 reads ${value} as a string: write true or false)`;
  }
  if ((issue.expected === 'number' || issue.expected === 'int') && /^[-+]?[0-9.]+$/.test(value)) {
    return ' (a quoted number is a string: remove the quotes)';
  }
  if (issue.expected === 'array') return ` (write a list: [${value}], or one "- item" per line)`;
  return '';
}

function didYouMean(word: unknown, candidates: readonly string[]): string {
  if (typeof word !== 'string') return '';
  const s = suggest(word, candidates);
  return s === undefined || s === word ? '' : `; did you mean ${JSON.stringify(s)}?`;
}

export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  data: unknown,
  schema: z.ZodType,
  src: YamlSource,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const at = (path: ConfigPath, message: string, key = false): void => {
    const pos = key ? src.locateKey(path) : src.locate(path);
    problems.push({ path: formatPath(path), line: pos.line, column: pos.column, message });
  };

  for (const issue of issues) {
    const path = issue.path;
    const value = valueAt(data, path);
    switch (issue.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(schema, path, data);
        for (const key of issue.keys) {
          const close = didYouMean(key, known);
          const list = known.length > 0 ? `; expected one of: ${known.join(', ')}` : '';
          at([...path, key], `unknown key ${JSON.stringify(key)}${close || list}`, true);
        }
        break;
      }
      case 'invalid_union': {
        const options = 'options' in issue ? issue.options?.map(String) : undefined;
        if (issue.discriminator !== undefined && options !== undefined) {
          at(
            path,
            `expected one of ${quoteAll(options)}, found ${describeFound(value, path)}${didYouMean(value, options)}`,
          );
        } else {
          at(path, `expected ${issue.message}, found ${describeFound(value, path)}`);
        }
        break;
      }
      case 'custom':
        at(path, issue.message);
        break;
      case 'invalid_value': {
        const close = didYouMean(value, issue.values.map(String));
        at(
          path,
          `expected ${issue.message}, found ${describeFound(value, path)}${isSecretPath(path) ? '' : close}`,
        );
        break;
      }
      default: {
        // A scalar where a section belongs (`devin: cog_…`) is likely a misplaced secret: name its type only.
        const misplaced =
          issue.code === 'invalid_type' &&
          issue.expected === 'object' &&
          (typeof value === 'string' || typeof value === 'number');
        const found = misplaced ? `a ${typeof value}` : describeFound(value, path);
        at(path, `expected ${issue.message}, found ${found}${hint(issue, value, path)}`);
      }
    }
  }
  return problems;
}
