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

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line === undefined ? file : `${file}:${p.line}:${p.column ?? 1}`;
  return p.path === '' ? `${where}: ${p.message}` : `${where}: ${p.path}: ${p.message}`;
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

export class ConfigError extends Error {
  readonly file: string;
  readonly problems: ConfigProblem[];

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const sorted = sortProblems(problems);
    super(sorted.map((p) => formatProblem(file, p)).join('\n'));
    this.name = 'ConfigError';
    this.file = file;
    this.problems = sorted;
  }

  /** One line per problem: `file:line:column: path: message`. */
  format(): string[] {
    return this.problems.map((p) => formatProblem(this.file, p));
  }
}
