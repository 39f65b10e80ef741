// An in-memory RunService that records every call, for tests of the HTTP layer (src/server): what
// is under test is what the server asks for and how it answers, not the run machinery. Plus a
// harness that starts the real server on 127.0.0.1 with a captured log.
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ServerSettings } from '../../src/config/types.js';
import {
  type ReportFormat,
  RunNotFoundError,
  type RunRecord,
  type RunService,
  RunStateError,
  type TriggerResult,
} from '../../src/daemon/types.js';
import { createLogger } from '../../src/log/logger.js';
import { buildServer, createMetrics } from '../../src/server/index.js';

type TriggerInput = Parameters<RunService['trigger']>[0];

export class FakeRunService implements RunService {
  readonly triggers: TriggerInput[] = [];
  readonly approvals: Array<{ id: string; by: string; comment?: string }> = [];
  readonly rejections: Array<{ id: string; by: string; comment?: string }> = [];
  readonly runs = new Map<string, RunRecord>();
  readonly reports = new Map<string, Partial<Record<ReportFormat, string>>>();
  readiness: { ready: boolean; checks: Record<string, boolean> } = {
    ready: true,
    checks: { redis: true, config: true },
  };
  /** Makes trigger() slow or failing, as a hung or down Redis would. */
  triggerDelayMs = 0;
  triggerError: Error | undefined;
  private pending: string | undefined;
  private seq = 0;

  async trigger(t: TriggerInput): Promise<TriggerResult> {
    this.triggers.push(t);
    if (this.triggerDelayMs > 0) await new Promise((r) => setTimeout(r, this.triggerDelayMs));
    if (this.triggerError) throw this.triggerError;
    // The coalescing rule of the interface, reduced to its visible effect: one pending run.
    if (this.pending !== undefined) return { runId: this.pending, coalesced: true };
    const id = this.add({ trigger: t.trigger, reason: t.reason, status: 'queued' }).id;
    this.pending = id;
    return { runId: id, coalesced: false };
  }

  async list(limit = 20): Promise<RunRecord[]> {
    return [...this.runs.values()].reverse().slice(0, limit);
  }

  async get(id: string): Promise<RunRecord | undefined> {
    return this.runs.get(id);
  }

  async report(id: string, format: ReportFormat): Promise<string | undefined> {
    return this.reports.get(id)?.[format];
  }

  async approve(id: string, by: string, comment?: string): Promise<RunRecord> {
    this.approvals.push({ id, by, ...(comment !== undefined ? { comment } : {}) });
    const run = this.runs.get(id);
    if (!run) throw new RunNotFoundError(id);
    if (run.status !== 'awaiting-approval')
      throw new RunStateError(id, run.status, `run ${id} is ${run.status}, not awaiting approval`);
    const approved: RunRecord = {
      ...run,
      status: 'applying',
      approvedBy: by,
      approvedAt: new Date().toISOString(),
      ...(comment !== undefined ? { approvalComment: comment } : {}),
    };
    this.runs.set(id, approved);
    return approved;
  }

  async reject(id: string, by: string, comment?: string): Promise<RunRecord> {
    this.rejections.push({ id, by, ...(comment !== undefined ? { comment } : {}) });
    const run = this.runs.get(id);
    if (!run) throw new RunNotFoundError(id);
    if (run.status !== 'awaiting-approval')
      throw new RunStateError(id, run.status, `run ${id} is ${run.status}, not awaiting approval`);
    const at = new Date().toISOString();
    const rejected: RunRecord = {
      ...run,
      status: 'rejected',
      rejectedBy: by,
      rejectedAt: at,
      finishedAt: at,
      ...(comment !== undefined ? { rejectionComment: comment } : {}),
    };
    this.runs.set(id, rejected);
    return rejected;
  }

  async ready(): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
    return this.readiness;
  }

  /** Seeds a run record. */
  add(fields: Partial<RunRecord> & Pick<RunRecord, 'status'>): RunRecord {
    this.seq++;
    const run: RunRecord = {
      id: `run-${this.seq}`,
      trigger: 'api',
      createdAt: new Date(Date.UTC(2025, 0, 1, 0, 0, this.seq)).toISOString(),
      ...fields,
    };
    this.runs.set(run.id, run);
    return run;
  }
}

export interface TestServer {
  app: FastifyInstance;
  url: string;
  runs: FakeRunService;
  metrics: ReturnType<typeof createMetrics>['metrics'];
  /** Everything the server logged, as pino JSON lines. */
  logText(): string;
  close(): Promise<void>;
}

export interface StartOptions {
  server?: Partial<ServerSettings>;
  runs?: FakeRunService;
  queues?: Parameters<typeof buildServer>[0]['queues'];
  now?: () => number;
  logLevel?: string;
  /** The daemon's Graph subscription registry and lifecycle handling (src/server/graph.ts). */
  graph?: Parameters<typeof buildServer>[0]['graph'];
}

/** The real server, listening on 127.0.0.1 (a free port), logging at trace into memory. */
export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({ level: opts.logLevel ?? 'trace', destination: sink });
  const runs = opts.runs ?? new FakeRunService();
  const { metrics, registry } = createMetrics();
  const app = await buildServer({
    runs,
    metricsRegistry: registry,
    logger,
    server: { host: '127.0.0.1', port: 0, ...opts.server },
    queues: opts.queues ?? [],
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.graph ? { graph: opts.graph } : {}),
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url, runs, metrics, logText: () => lines.join(''), close: () => app.close() };
}
