// Asking the run service for a run from an HTTP request: bounded in time and mapped to 503 on
// failure, so a caller (or Graph, or a webhook sender) retries instead of assuming the run exists.
import type { FastifyBaseLogger } from 'fastify';
import type { RunService, TriggerResult } from '../daemon/types.js';
import { HttpError, withDeadline } from './http.js';

export async function requestRun(
  runs: RunService,
  input: Parameters<RunService['trigger']>[0],
  log: FastifyBaseLogger,
  deadlineMs: number,
): Promise<TriggerResult> {
  try {
    const result = await withDeadline(runs.trigger(input), deadlineMs, 'trigger', (late) => {
      // The caller already got a 503 and will retry; a late success just coalesces with that retry.
      if (late.ok) log.info({ trigger: input.trigger, runId: late.value.runId }, 'late trigger landed');
      else log.error({ err: late.error, trigger: input.trigger }, 'late trigger failed');
    });
    log.info({ trigger: input.trigger, runId: result.runId, coalesced: result.coalesced }, 'run requested');
    return result;
  } catch (err) {
    log.error({ err, trigger: input.trigger }, 'could not request a run');
    throw new HttpError(503, 'unavailable', 'could not queue the run; retry later', { 'retry-after': '5' });
  }
}
