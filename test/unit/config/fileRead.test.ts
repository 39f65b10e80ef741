// The readers behind the config, `*File` secrets, the ledger and the directory file: bounded,
// regular files only where asked, strict UTF-8, and JSON errors that give a position but never the
// text (Node 20's JSON.parse quotes the input: `Unexpected token 'c', "cog_…" is not valid JSON`).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeUtf8, jsonSyntaxProblem, readBounded } from '../../../src/config/fileRead.js';
import { fileSource } from '../../../src/directory/file/fileSource.js';
import { FileStateStore } from '../../../src/state/fileStateStore.js';

const TOKEN = 'cog_file_read_secret_token_4a1b';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-fileread-'));
  await writeFile(join(dir, 'token'), `${TOKEN}\n`);
  await writeFile(
    join(dir, 'broken.json'),
    '{\n  "users": [],\n  "groups": [\n    { "id": "g1", "name": "x" },\n  ]\n}\n',
  );
  await writeFile(
    join(dir, 'latin1.json'),
    Buffer.from('{"users":[{"id":"u1","name":"Jos\xe9"}],"groups":[]}', 'latin1'),
  );
  execFileSync('mkfifo', [join(dir, 'fifo')]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('JSON syntax errors: where and why, never what', () => {
  it.each([
    ['cog_abc', 1, 1, 'unexpected character'],
    ['{"a":1,}', 1, 8, 'expected a property name in double quotes'],
    ['{"a":', 1, 6, 'unexpected end of input'],
    ['', 1, 1, 'unexpected end of input'],
    ['[1 2]', 1, 4, "expected ',' or ']' after an array element"],
    ['{\n  "a": "abc\n}', 2, 12, 'a control character inside a string (write it as an escape)'],
    ['"abc', 1, 1, 'a string that is never closed'],
    ['{"a": "\\x"}', 1, 8, 'an invalid escape sequence'],
    ['{} {}', 1, 4, 'unexpected character after the end of the JSON value'],
    ['[-]', 1, 2, 'an invalid number'],
  ])('%j', (text, line, column, reason) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonSyntaxProblem(text)).toMatchObject({ line, column, reason });
  });

  it('accepts what JSON.parse accepts', () => {
    for (const text of ['{}', '[]', '0', '-1.5e+3', '"\\u00e9"', ' {"a":[true,false,null,{"b":"c"}]} \n']) {
      expect(jsonSyntaxProblem(text)).toBeUndefined();
    }
  });

  it('the ledger: a state file that is a token file names a position, not the token', async () => {
    const err = await new FileStateStore(join(dir, 'token')).load().catch((e: unknown) => e as Error);
    expect((err as Error).message).toBe(
      `state file ${join(dir, 'token')}: not valid JSON at line 1, column 1: unexpected character; refusing to guess ownership`,
    );
    expect((err as Error).message).not.toContain('cog_');
  });

  it('the directory file: a token file, a broken file, Latin-1, a FIFO', async () => {
    const messageOf = (name: string) =>
      fileSource(join(dir, name))
        .read()
        .then(
          () => 'read',
          (e: unknown) => (e as Error).message,
        );
    expect(await messageOf('token')).toBe(
      `${join(dir, 'token')}: not valid JSON at line 1, column 1: unexpected character`,
    );
    expect(await messageOf('broken.json')).toBe(
      `${join(dir, 'broken.json')}: not valid JSON at line 5, column 3: expected a value (is there a comma too many?)`,
    );
    expect(await messageOf('latin1.json')).toBe(
      `${join(dir, 'latin1.json')}: line 1, column 33: not valid UTF-8 at byte offset 32: save the file as UTF-8`,
    );
    expect(await messageOf('fifo')).toBe(
      `${join(dir, 'fifo')}: cannot read: it is a FIFO (named pipe), not a regular file`,
    );
    expect(await messageOf('missing.json')).toBe(`${join(dir, 'missing.json')}: cannot read: ENOENT`);
  });
});

describe('bounded reads', () => {
  it('refuses FIFOs and devices when asked for regular files, without blocking', async () => {
    await expect(readBounded(join(dir, 'fifo'), { maxBytes: 10, regularOnly: true })).rejects.toThrow(
      'it is a FIFO (named pipe), not a regular file',
    );
    await expect(readBounded('/dev/zero', { maxBytes: 10, regularOnly: true })).rejects.toThrow(
      'it is a character device, not a regular file',
    );
  });

  it('stops at the limit, also on a device that never ends', async () => {
    await expect(readBounded('/dev/zero', { maxBytes: 1000, regularOnly: false })).rejects.toThrow(
      'it is too large (more than 1000 bytes; at most 1000 bytes)',
    );
    await expect(readBounded(join(dir, 'token'), { maxBytes: 8, regularOnly: true })).rejects.toThrow(
      `it is too large (${TOKEN.length + 1} bytes; at most 8 bytes)`,
    );
    expect((await readBounded(join(dir, 'token'), { maxBytes: 64, regularOnly: true })).toString()).toBe(
      `${TOKEN}\n`,
    );
  });
});

describe('strict UTF-8', () => {
  it('drops a UTF-8 BOM, refuses UTF-16 and malformed bytes at their position', () => {
    expect(decodeUtf8(Buffer.from('\uFEFFa: é\n'))).toEqual({ ok: true, text: 'a: é\n' });
    expect(decodeUtf8(Buffer.from('\uFEFFa: 1', 'utf16le'))).toMatchObject({
      ok: false,
      position: { line: 1, column: 1 },
    });
    expect(decodeUtf8(Buffer.from('a: 1', 'utf16le'))).toMatchObject({ ok: false, offset: 1 });
    // A surrogate encoded on its own (CESU-8) and an overlong form are not UTF-8.
    expect(decodeUtf8(Buffer.from([0x61, 0x0a, 0xc3, 0xa9, 0xed, 0xa0, 0x80]))).toMatchObject({
      ok: false,
      offset: 4,
      position: { line: 2, column: 2 },
    });
    expect(decodeUtf8(Buffer.from([0xc0, 0xaf]))).toMatchObject({ ok: false, offset: 0 });
  });
});
