// Config failures as data: one problem per mistake, each pointing at a line and column of the
// file, so an operator can fix every mistake in one pass instead of one per run.

export interface ConfigProblem {
  /** Key path, e.g. `mappings[1].orgs[0].role`; empty for the file as a whole. */
  path: string;
  /** 1-based, when the problem can be pinned to a place in the file. */
  line?: number;
  column?: number;
  message: string;
}

/** A key path can hold a key megabytes long; a message shows its start. */
const MAX_PATH_SHOWN = 200;

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
  const path = p.path.length > MAX_PATH_SHOWN ? `${p.path.slice(0, MAX_PATH_SHOWN - 3)}...` : p.path;
  return path === '' ? `${where}: ${p.message}` : `${where}: ${path}: ${p.message}`;
}

/** Problems in file order, so the output reads top to bottom like the file. */
export function sortProblems(problems: readonly ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort(
    (a, b) =>
      (a.line ?? Number.MAX_SAFE_INTEGER) - (b.line ?? Number.MAX_SAFE_INTEGER) ||
      (a.column ?? 0) - (b.column ?? 0) ||
      a.path.localeCompare(b.path),
  );
}

/** At most this many problems are reported; a file with more is better fixed from the top. */
export const MAX_PROBLEMS = 50;

function formatAll(file: string, problems: readonly ConfigProblem[], omitted: number): string[] {
  const lines = problems.map((p) => formatProblem(file, p));
  if (omitted > 0) lines.push(`${file}: ...and ${omitted} more problem${omitted === 1 ? '' : 's'}`);
  return lines;
}

export class ConfigError extends Error {
  readonly file: string;
  /** The first MAX_PROBLEMS problems, in file order. */
  readonly problems: ConfigProblem[];
  /** Problems found but not reported (beyond MAX_PROBLEMS). */
  readonly omitted: number;

  constructor(file: string, problems: readonly ConfigProblem[], omitted = 0) {
    const sorted = sortProblems(problems);
    const shown = sorted.slice(0, MAX_PROBLEMS);
    const more = omitted + sorted.length - shown.length;
    super(formatAll(file, shown, more).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.problems = shown;
    this.omitted = more;
  }

  /** One line per problem: `file:line:column: path: message`, then `…and N more problems`. */
  format(): string[] {
    return formatAll(this.file, this.problems, this.omitted);
  }
}
