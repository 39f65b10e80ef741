// What a failed run records as its `error`: the typed failure in words an operator can act on. The
// typed errors never carry a token (the Devin client scrubs it), so their messages are safe to store.
import { DevinError } from '../devin/errors.js';
import { DirectoryFileError } from '../directory/file/fileSource.js';

export function describeRunError(err: unknown): string {
  if (err instanceof DevinError) return `Devin API: ${err.message}`;
  if (err instanceof DirectoryFileError) return `directory source: ${err.message}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
