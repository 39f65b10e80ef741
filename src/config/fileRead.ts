// Reading the files idsync is pointed at (the config, `*File` secrets, the directory snapshot, the
// ledger) without trusting them: bounded reads, regular files only where a FIFO or a device makes
// no sense, strict UTF-8, and JSON syntax errors that give a position and never the text (Node's
// JSON.parse messages quote the input, which may be a token).
import { isUtf8 } from 'node:buffer';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

export const KiB = 1024;
export const MiB = 1024 * KiB;

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a parent is not a directory',
  ELOOP: 'too many symbolic links',
};

/** `no such file (ENOENT)`: an fs error as a reason, never with the path or any content. */
export function fsReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code ? `${FS_REASONS[code] ?? 'read failed'} (${code})` : 'read failed';
}

/** `64 KiB`, `1 MiB`, or bytes. */
export function formatSize(bytes: number): string {
  if (bytes >= MiB && bytes % MiB === 0) return `${bytes / MiB} MiB`;
  if (bytes >= KiB && bytes % KiB === 0) return `${bytes / KiB} KiB`;
  return `${bytes} bytes`;
}

function kindOf(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

/** Why a file could not be read; `reason` names no content. */
export class FileReadError extends Error {
  constructor(
    readonly reason: string,
    readonly code: 'fs' | 'not-regular' | 'too-large',
    readonly errno?: string,
  ) {
    super(reason);
    this.name = 'FileReadError';
  }
}

export interface ReadLimits {
  /** Refuse anything larger: read at most this many bytes (plus one, to notice). */
  maxBytes: number;
  /**
   * Refuse FIFOs, devices and sockets. Opened non-blocking, so a FIFO without a writer is refused
   * at once instead of hanging the open. Off for the config file, so `--config <(sops -d …)` works.
   */
  regularOnly: boolean;
}

const tooLarge = (size: number | undefined, max: number): FileReadError =>
  new FileReadError(
    `it is too large (${size === undefined ? `more than ${max}` : size} bytes; at most ${formatSize(max)})`,
    'too-large',
  );

/** Reads a whole file within `limits`. Throws FileReadError. */
export async function readBounded(path: string, limits: ReadLimits): Promise<Buffer> {
  let fh: FileHandle;
  try {
    fh = await open(
      path,
      limits.regularOnly ? constants.O_RDONLY | constants.O_NONBLOCK : constants.O_RDONLY,
    );
  } catch (err) {
    throw new FileReadError(fsReason(err), 'fs', (err as NodeJS.ErrnoException).code);
  }
  try {
    let st: Stats;
    try {
      st = await fh.stat();
    } catch (err) {
      throw new FileReadError(fsReason(err), 'fs', (err as NodeJS.ErrnoException).code);
    }
    if (st.isDirectory()) throw new FileReadError('it is a directory (EISDIR)', 'fs', 'EISDIR');
    if (limits.regularOnly && !st.isFile()) {
      throw new FileReadError(`it is ${kindOf(st)}, not a regular file`, 'not-regular');
    }
    if (st.isFile() && st.size > limits.maxBytes) throw tooLarge(st.size, limits.maxBytes);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      // A regular file is read in one go; anything else in chunks, never past the limit.
      const want = Math.min(st.isFile() && st.size > 0 ? st.size + 1 : 64 * KiB, limits.maxBytes + 1 - total);
      const chunk = Buffer.allocUnsafe(want);
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(chunk, 0, want, null));
      } catch (err) {
        throw new FileReadError(fsReason(err), 'fs', (err as NodeJS.ErrnoException).code);
      }
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > limits.maxBytes) throw tooLarge(undefined, limits.maxBytes);
    }
    return Buffer.concat(chunks, total);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

export interface TextPosition {
  line: number;
  column: number;
}

export type Decoded =
  | { ok: true; text: string }
  | { ok: false; offset: number; position: TextPosition; reason: string };

/** Byte offset of the first byte that does not start a well-formed UTF-8 sequence; -1 if none. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i] ?? 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined) return i;
      const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
      if (d < min || d > max) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** Line and column (1-based; columns count characters) of a byte offset into UTF-8 bytes. */
export function bytePosition(b: Uint8Array, offset: number): TextPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (b[i] === 0x0a) {
      line++;
      lineStart = i + 1;
    }
  }
  // The bytes before `offset` are valid UTF-8; a leading BOM is not a column.
  const column = new TextDecoder('utf-8').decode(b.subarray(lineStart, offset)).length + 1;
  return { line, column };
}

/**
 * Strict UTF-8: UTF-16 (by its byte order mark or its NUL bytes) and malformed UTF-8 are refused
 * at a position, instead of becoming U+FFFD that then matches nothing. A UTF-8 BOM is dropped.
 */
export function decodeUtf8(b: Uint8Array): Decoded {
  const fail = (offset: number, reason: string): Decoded => ({
    ok: false,
    offset,
    position: bytePosition(b, offset),
    reason,
  });
  if ((b[0] === 0xff && b[1] === 0xfe) || (b[0] === 0xfe && b[1] === 0xff)) {
    return fail(0, 'the file is UTF-16 (it starts with a UTF-16 byte order mark): save it as UTF-8');
  }
  const nul = b.indexOf(0);
  // The usual case, a valid file, is checked natively; the byte loop below only runs to say where
  // a bad file goes wrong (it costs tens of milliseconds on a 100,000-user directory file).
  if (nul < 0 && isUtf8(b)) return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(b) };
  const bad = firstInvalidUtf8(b);
  if (nul >= 0 && (bad < 0 || nul < bad)) {
    return fail(
      nul,
      `NUL byte at byte offset ${nul}: the file looks like UTF-16 or binary data; save it as UTF-8`,
    );
  }
  if (bad >= 0) return fail(bad, `not valid UTF-8 at byte offset ${bad}: save the file as UTF-8`);
  try {
    return { ok: true, text: new TextDecoder('utf-8', { fatal: true }).decode(b) };
  } catch {
    return fail(0, 'not valid UTF-8: save the file as UTF-8');
  }
}

// ---- JSON syntax errors without the text ------------------------------------------------------------

export interface JsonSyntaxProblem {
  offset: number;
  line: number;
  column: number;
  reason: string;
}

class Stop {
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {}
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** Where `text` stops being JSON, and why, in words that quote none of it; undefined if it is JSON. */
export function jsonSyntaxProblem(text: string): JsonSyntaxProblem | undefined {
  let i = 0;
  const n = text.length;
  const stop = (reason: string, at = i): never => {
    throw new Stop(at, i >= n && at >= n ? 'unexpected end of input' : reason);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const str = (): void => {
    const start = i;
    i++;
    for (;;) {
      if (i >= n) throw new Stop(start, 'a string that is never closed');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) stop('a control character inside a string (write it as an escape)');
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else if (e === 'u' && HEX4.test(text.slice(i + 2, i + 6))) i += 6;
        else stop('an invalid escape sequence');
      } else i++;
    }
  };
  const value = (): void => {
    ws();
    if (i >= n) stop('unexpected end of input');
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') stop('expected a property name in double quotes');
        str();
        ws();
        if (text[i] !== ':') stop("expected ':' after a property name");
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        stop("expected ',' or '}' after a property value");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        stop("expected ',' or ']' after an array element");
      }
    }
    if (c === '"') {
      str();
      return;
    }
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(text);
      if (!m) stop('an invalid number');
      i += m?.[0].length ?? 0;
      return;
    }
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    stop(c === ']' || c === '}' ? 'expected a value (is there a comma too many?)' : 'unexpected character');
  };
  try {
    value();
    ws();
    if (i < n) stop('unexpected character after the end of the JSON value');
    return undefined;
  } catch (err) {
    if (!(err instanceof Stop)) {
      // e.g. nesting deep enough to overflow the stack: no position, still no text.
      return { offset: 0, line: 1, column: 1, reason: 'nested too deeply to locate the error' };
    }
    const before = text.slice(0, err.offset);
    const nl = before.lastIndexOf('\n');
    let line = 1;
    for (let k = 0; k < before.length; k++) if (before.charCodeAt(k) === 0x0a) line++;
    return { offset: err.offset, line, column: err.offset - nl, reason: err.reason };
  }
}

/** JSON.parse, but a syntax error says where and why without quoting the text. */
export class JsonSyntaxError extends Error {
  constructor(readonly problem: JsonSyntaxProblem) {
    super(`not valid JSON at line ${problem.line}, column ${problem.column}: ${problem.reason}`);
    this.name = 'JsonSyntaxError';
  }
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JsonSyntaxError(
      jsonSyntaxProblem(text) ?? { offset: 0, line: 1, column: 1, reason: 'not accepted by the JSON parser' },
    );
  }
}
