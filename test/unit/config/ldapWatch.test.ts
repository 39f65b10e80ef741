// source.watch of an ldap source: absent is off; `watch: {}` is on with the documented defaults.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idsync-watch-config-'));
  await writeFile(join(dir, 'pw'), 'secret');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sourceWith(watch: string | undefined) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    file,
    `source:
  type: ldap
  url: ldaps://dc1.corp.example:636
  bindDN: cn=idsync,dc=corp,dc=example
  bindPasswordFile: pw
  profile: activedirectory
  userBase: ou=people,dc=corp,dc=example
  groupBase: ou=groups,dc=corp,dc=example
${watch === undefined ? '' : `  watch: ${watch}\n`}devin:
  token: cog_x
mappings:
  - group: { name: devin-eng }
    enterpriseRole: account_member
`,
  );
  const c = await loadConfig(file);
  if (c.source.type !== 'ldap') throw new Error('not ldap');
  return c.source;
}

describe('source.watch', () => {
  it('absent: no watch', async () => {
    expect((await sourceWith(undefined)).watch).toBeUndefined();
  });

  it('an empty block: on, every 5 s, 1 s debounce', async () => {
    expect((await sourceWith('{}')).watch).toEqual({
      enabled: true,
      intervalMs: 5000,
      debounceMs: 1000,
      fullReadEvery: '1h',
    });
  });

  it('enabled: false keeps the block and turns it off', async () => {
    expect((await sourceWith('{ enabled: false, intervalMs: 2000 }')).watch).toEqual({
      enabled: false,
      intervalMs: 2000,
      debounceMs: 1000,
      fullReadEvery: '1h',
    });
  });

  it('push: auto or off (absent means auto); anything else is refused with where it is', async () => {
    expect((await sourceWith('{}')).watch?.push).toBeUndefined();
    expect((await sourceWith('{ push: off }')).watch?.push).toBe('off');
    expect((await sourceWith('{ push: auto }')).watch?.push).toBe('auto');
    await expect(sourceWith('{ push: always }')).rejects.toThrow(/:9:\d+: source\.watch\.push: .*auto or off/s);
  });

  it('fullReadEvery: a duration, at least 1m', async () => {
    expect((await sourceWith('{ fullReadEvery: 30m }')).watch?.fullReadEvery).toBe('30m');
    await expect(sourceWith('{ fullReadEvery: 10s }')).rejects.toThrow(/fullReadEvery.*at least 1m/s);
    await expect(sourceWith('{ fullReadEvery: hourly }')).rejects.toThrow(/a duration such as 30m/);
  });
});
