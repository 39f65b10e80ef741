// Progress on a terminal: one line per phase, rewritten in place. Off a terminal (CI logs, pipes)
// it prints nothing, because the CLI ends with a JSON summary and partial lines would only be noise.
import type { ProgressEvent } from '../types.js';

export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export function progressPrinter(stream: ProgressStream): (e: ProgressEvent) => void {
  if (!stream.isTTY) return () => {};
  return (e) => {
    const failed = e.failed > 0 ? `, ${e.failed} failed` : '';
    // \r + "erase line" so a shorter line does not leave the tail of a longer one behind.
    stream.write(`\r\x1b[2K${e.phase}: ${e.done}/${e.total}${failed}`);
    if (e.done === e.total) stream.write('\n');
  };
}
