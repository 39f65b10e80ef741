// Waiting for the operator (or Kubernetes) to stop the process: the first SIGTERM/SIGINT starts a
// graceful shutdown; a second one while it drains gives up waiting and exits 1 (a runtime failure,
// docs/design.md §8), since running jobs were abandoned.
import type { Logger } from 'pino';

export function untilSignal(log: Logger): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals) => {
      if (received) {
        log.warn('second signal: exiting without waiting for running jobs');
        process.exit(1);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
