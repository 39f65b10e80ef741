// ppolicy locks against a real slapd with the ppolicy overlay (test/support/slapd.ts): a user
// locked out by failed binds (pwdLockoutDuration > 0, so the lock lifts by itself) must stay
// enabled under the documented disabledFilter (pwdAccountLockedTime=000001010000Z), and a user an
// administrator locked (that value, set by the rootdn) must be read as disabled. The presence
// filter the README used to suggest, (pwdAccountLockedTime=*), deprovisions the first one too,
// and the reader now says so in a warning.
import { readFile } from 'node:fs/promises';
import { Client, InvalidCredentialsError } from 'ldapts';
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/index.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import type { DirectorySnapshot } from '../../src/directory/types.js';
import { createLogger } from '../../src/log/logger.js';
import { ldifEntry, ppolicyEntryLdif, type Slapd, startSlapd } from '../support/slapd.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const SYSTEM = `ou=system,${SUFFIX}`;
const POLICY = `cn=default,ou=policies,${SUFFIX}`;
const READER = `uid=idsync,${SYSTEM}`;
const READER_PW = 'reader-Pa55!';
const USER_PW = 'Passw0rd!';
const MAX_FAILURE = 3;
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
/** The disabledFilter docs/ldap.md documents for ppolicy (the profile table's row). */
async function documentedFilter(): Promise<string> {
  const readme = await readFile(new URL('../../docs/ldap.md', import.meta.url), 'utf8');
  const row = readme.split('\n').find((l) => l.startsWith('| disabled users |'));
  const filter = /\(pwdAccountLockedTime=[^)]*\)/.exec(row ?? '')?.[0];
  if (!filter) throw new Error('docs/ldap.md documents no ppolicy disabledFilter in the profile table');
  return filter;
}

function preload(): string {
  const out: string[] = [];
  for (const ou of ['people', 'groups', 'system', 'policies']) {
    out.push(ldifEntry(`ou=${ou},${SUFFIX}`, { objectClass: ['top', 'organizationalUnit'], ou }));
  }
  // Lock after three failed binds, for an hour: a temporary lockout.
  out.push(ppolicyEntryLdif(POLICY, MAX_FAILURE, 3600));
  out.push(
    ldifEntry(READER, {
      objectClass: ['top', 'account', 'simpleSecurityObject'],
      uid: 'idsync',
      userPassword: READER_PW,
    }),
  );
  for (const uid of ['mistyper', 'fired', 'fine']) {
    out.push(
      ldifEntry(person(uid), {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        uid,
        cn: uid,
        sn: uid,
        mail: `${uid}@corp.example`,
        userPassword: USER_PW,
      }),
    );
  }
  out.push(
    ldifEntry(`cn=staff,${GROUPS}`, {
      objectClass: ['top', 'groupOfNames'],
      cn: 'staff',
      member: ['mistyper', 'fired', 'fine'].map(person),
    }),
  );
  return out.join('');
}

let server: Slapd;

async function bind(dn: string, password: string): Promise<unknown> {
  const client = new Client({ url: server.url, timeout: 5000, connectTimeout: 5000 });
  try {
    await client.bind(dn, password);
    return undefined;
  } catch (err) {
    return err;
  } finally {
    await client.unbind().catch(() => undefined);
  }
}

/** pwdAccountLockedTime as the rootdn sees it (it is operational: asked for by name). */
async function lockedTime(uid: string): Promise<string | undefined> {
  const client = new Client({ url: server.url, timeout: 5000 });
  try {
    await client.bind(server.rootDN, server.rootPassword);
    const { searchEntries } = await client.search(person(uid), {
      scope: 'base',
      attributes: ['pwdAccountLockedTime'],
    });
    // ldapts lists an attribute that was asked for and is absent as [].
    const v = searchEntries[0]?.pwdAccountLockedTime;
    const first = Array.isArray(v) ? v[0] : v;
    return first === undefined ? undefined : String(first);
  } finally {
    await client.unbind();
  }
}

beforeAll(async () => {
  server = await startSlapd({ tls: false, ppolicyDefault: POLICY, preload: preload() });
  // A temporary lockout, the way it happens: failed binds.
  for (let i = 0; i < MAX_FAILURE; i++) await bind(person('mistyper'), 'wrong-password');
  // An administrative lock: the permanent value, set by the rootdn.
  await server.modify(
    `dn: ${person('fired')}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n\n`,
  );
});

afterAll(async () => {
  await server?.stop();
});

const config = (over: Partial<LdapSourceConfig> = {}): LdapSourceConfig => ({
  type: 'ldap',
  url: server.url,
  bindDN: READER,
  bindPassword: READER_PW,
  profile: 'openldap',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
  ...over,
});

const enabled = (snap: DirectorySnapshot): Record<string, boolean> =>
  Object.fromEntries(snap.users.map((u) => [u.email?.split('@')[0], u.enabled]));

function memoryLogger(): { logger: Logger; lines: Array<{ level: number; msg: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) },
  });
  return { logger, lines };
}

describe('ppolicy locks', () => {
  it('the disabledFilter docs/ldap.md documents for ppolicy: the administrative lock is disabled, the temporary one is not', async () => {
    // The server really locked both: the failed binds set a time, the administrator the permanent value.
    const temporary = await lockedTime('mistyper');
    expect(temporary).toMatch(/^\d{14}Z$/);
    expect(temporary).not.toBe('000001010000Z');
    expect(await lockedTime('fired')).toBe('000001010000Z');
    expect(await lockedTime('fine')).toBeUndefined();
    // Locked means locked: the right password is refused for both, accepted for the other.
    expect(await bind(person('mistyper'), USER_PW)).toBeInstanceOf(InvalidCredentialsError);
    expect(await bind(person('fired'), USER_PW)).toBeInstanceOf(InvalidCredentialsError);
    expect(await bind(person('fine'), USER_PW)).toBeUndefined();

    const documented = await documentedFilter();
    expect(documented).toBe('(pwdAccountLockedTime=000001010000Z)');
    const { logger, lines } = memoryLogger();
    const snap = await ldapSource(config({ disabledFilter: documented }), { logger }).read();
    expect(snap.complete).toBe(true);
    expect(enabled(snap)).toEqual({ mistyper: true, fired: false, fine: true });
    expect(lines.some((l) => l.msg.includes('also matches users ppolicy locked out'))).toBe(false);
  });

  it('the presence filter (pwdAccountLockedTime=*) disables the mistyper too, and the reader warns about it', async () => {
    const { logger, lines } = memoryLogger();
    const snap = await ldapSource(config({ disabledFilter: '(pwdAccountLockedTime=*)' }), { logger }).read();
    expect(enabled(snap)).toEqual({ mistyper: false, fired: false, fine: true });
    const warning = lines.find(
      (l) => l.level === 40 && l.msg.includes('also matches users ppolicy locked out'),
    );
    expect(warning?.msg).toContain('(pwdAccountLockedTime=000001010000Z)');
  });
});
