/** A unit of work that may discover more work (e.g. listing orgs yields one listing per org). */
export type PoolTask = () => Promise<PoolTask[] | undefined>;

/**
 * Runs tasks with at most `concurrency` at once, including the tasks they return. Rejects with the
 * first failure and starts nothing after it.
 */
export function runTaskPool(initial: readonly PoolTask[], concurrency: number): Promise<void> {
  const limit = Math.max(1, Math.floor(concurrency));
  const queue = [...initial];
  let active = 0;
  let failed = false;
  return new Promise((resolve, reject) => {
    const pump = (): void => {
      if (failed) return;
      if (queue.length === 0 && active === 0) {
        resolve();
        return;
      }
      while (active < limit && queue.length > 0) {
        const task = queue.shift() as PoolTask;
        active++;
        task().then(
          (more) => {
            active--;
            if (more) queue.push(...more);
            pump();
          },
          (err: unknown) => {
            failed = true;
            reject(err);
          },
        );
      }
    };
    pump();
  });
}
