// The ledger in a JSON file, for one-shot runs (plan/apply/demo, CronJob mode). Each write goes to a
// temporary file that is then renamed over the old one, so a crash never leaves half a ledger.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { JsonSyntaxError, parseJson } from '../config/fileRead.js';
import type { Op } from '../reconcile/plan.js';
import { LastRunSchema } from './lastRunSchema.js';
import {
  EMPTY_LEDGER,
  type LastRun,
  ledgerAfterOp,
  type OwnershipLedger,
  type StateStore,
} from './ledger.js';

const LedgerFile = z.object({
  version: z.literal(1),
  users: z.array(z.string()),
  groups: z.array(z.string()),
  groupRoles: z.array(z.string()),
  lastSuccessfulRun: LastRunSchema.optional(),
});

export class StateFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`state file ${file}: ${detail}`);
    this.name = 'StateFileError';
  }
}

export class FileStateStore implements StateStore {
  private cached: OwnershipLedger | undefined;
  /** Serialises writes: ops finishing together must not lose each other's updates. */
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly file: string) {}

  describe(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<OwnershipLedger> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.cached = EMPTY_LEDGER;
        return EMPTY_LEDGER;
      }
      throw new StateFileError(this.file, `cannot read: ${(err as NodeJS.ErrnoException).code}`);
    }
    let json: unknown;
    try {
      // Not JSON.parse's own message: it quotes the text, and a misconfigured path may name a token.
      json = parseJson(text);
    } catch (err) {
      if (!(err instanceof JsonSyntaxError)) throw err;
      throw new StateFileError(this.file, `${err.message}; refusing to guess ownership`);
    }
    const parsed = LedgerFile.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StateFileError(this.file, `${issue?.path.join('.') || '(root)'}: ${issue?.message}`);
    }
    this.cached = parsed.data;
    return parsed.data;
  }

  recordOp(op: Op): Promise<void> {
    return this.update((l) => ledgerAfterOp(l, op));
  }

  recordRun(run: LastRun): Promise<void> {
    return this.update((l) => ({ ...l, lastSuccessfulRun: run }));
  }

  private update(change: (l: OwnershipLedger) => OwnershipLedger): Promise<void> {
    const next = this.writing.then(async () => {
      const current = this.cached ?? (await this.load());
      const updated = change(current);
      if (updated === current) return;
      await mkdir(dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, `${JSON.stringify(updated, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.file);
      this.cached = updated;
    });
    // A failed write fails this caller, but must not wedge every later one.
    this.writing = next.catch(() => undefined);
    return next;
  }
}
