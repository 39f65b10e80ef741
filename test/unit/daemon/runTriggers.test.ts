import { describe, expect, it } from 'vitest';
import { RunJobData } from '../../../src/apply/queue/jobs.js';
import { RUN_TRIGGERS } from '../../../src/daemon/types.js';

describe('run triggers', () => {
  it('the queue accepts exactly the daemon triggers', () => {
    for (const trigger of RUN_TRIGGERS)
      expect(RunJobData.safeParse({ runId: 'r', trigger }).success).toBe(true);
    expect(RunJobData.shape.trigger.options).toEqual([...RUN_TRIGGERS]);
  });
});
