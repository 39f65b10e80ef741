// Waiting for the operator (or Kubernetes) to stop the process: the first SIGTERM/SIGINT starts a
// graceful shutdown; a second one while it drains gives up waiting.
export function untilSignal(onSecond: () => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let received = false;
    const handler = (signal: NodeJS.Signals) => {
      if (received) {
        onSecond();
        return;
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', handler);
    process.on('SIGINT', handler);
  });
}
