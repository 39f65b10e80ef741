// The reader against a scripted server, for what a real OpenLDAP cannot show: Active Directory's
// binary objectGUID, userAccountControl, server-forced range retrieval, and a range slice that
// fails part way (AD behaviour; test/integration/ldap.samba.test.ts covers it against Samba).
import type { Client, Entry, SearchOptions, SearchResult } from 'ldapts';
import { describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../../../src/config/types.js';
import type { LdapConnection } from '../../../../src/directory/ldap/connection.js';
import { guidToBytes } from '../../../../src/directory/ldap/guid.js';
import { resolveSettings } from '../../../../src/directory/ldap/profiles.js';
import { parseRangedDescription } from '../../../../src/directory/ldap/ranges.js';
import { LdapReader } from '../../../../src/directory/ldap/read.js';
import { silentLogger } from '../../../../src/log/logger.js';

const BASE = 'DC=corp,DC=example';
const guid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const userDn = (n: number) => `CN=User ${n},OU=People,${BASE}`;

const users: Entry[] = [1, 2, 3, 4, 5].map((n) => ({
  dn: userDn(n),
  objectGUID: guidToBytes(guid(n)),
  mail: n === 5 ? [] : `user${n}@corp.example`,
  userPrincipalName: `u${n}@corp.example`,
  displayName: `User ${n}`,
  cn: `User ${n}`,
  userAccountControl: n === 2 ? '514' : '512', // 514 = NORMAL_ACCOUNT | ACCOUNTDISABLE
}));
const BIG = `CN=Big,OU=Groups,${BASE}`;
const bigMembers = [1, 2, 3, 4, 5].map(userDn);

/** AD-like: member lists are handed out 2 values at a time; `failFrom` breaks slices from that index. */
function fakeConnection(failFrom?: number): LdapConnection {
  const client = {
    async *searchPaginated(base: string): AsyncGenerator<SearchResult> {
      if (base.startsWith('OU=People')) {
        yield { searchEntries: users.slice(0, 3), searchReferences: [] };
        yield { searchEntries: users.slice(3), searchReferences: [] };
      } else {
        yield {
          searchEntries: [
            {
              dn: BIG,
              objectGUID: guidToBytes(guid(100)),
              cn: 'Big',
              member: [],
              'member;range=0-1': bigMembers.slice(0, 2),
            },
          ],
          searchReferences: [],
        };
      }
    },
    async search(dn: string, options: SearchOptions): Promise<SearchResult> {
      const requested = options.attributes?.[0] ?? '';
      const slice = parseRangedDescription(requested)?.slice;
      if (!slice || dn !== BIG) throw new Error('unexpected search');
      if (failFrom !== undefined && slice.lo >= failFrom) {
        throw new Error(
          'Connection closed before message response was received. Message type: SearchRequest',
        );
      }
      const end = Math.min(slice.lo + 1, bigMembers.length - 1);
      const key = `member;range=${slice.lo}-${end === bigMembers.length - 1 ? '*' : end}`;
      return {
        searchEntries: [{ dn: BIG, [key]: bigMembers.slice(slice.lo, end + 1) }],
        searchReferences: [],
      };
    },
  } as unknown as Client;
  return {
    session: async () => client,
    invalidate: () => undefined,
    reconnects: 0,
  } as unknown as LdapConnection;
}

const config: LdapSourceConfig = {
  type: 'ldap',
  url: 'ldaps://dc1.corp.example',
  bindDN: 'svc-idsync@corp.example',
  bindPassword: 'x',
  profile: 'activedirectory',
  userBase: `OU=People,${BASE}`,
  groupBase: `OU=Groups,${BASE}`,
  insecureSkipVerify: false,
};

const read = (failFrom?: number) =>
  new LdapReader(fakeConnection(failFrom), resolveSettings(config), silentLogger).read();

describe('the reader with the activedirectory profile', () => {
  it('decodes objectGUID, reads userAccountControl and falls back to userPrincipalName', async () => {
    const snap = await read();
    expect(snap.complete).toBe(true);
    expect(snap.users.map((u) => u.id)).toEqual([1, 2, 3, 4, 5].map(guid));
    expect(snap.users.find((u) => u.id === guid(2))?.enabled).toBe(false);
    expect(snap.users.filter((u) => u.enabled)).toHaveLength(4);
    expect(snap.users.find((u) => u.id === guid(5))?.email).toBe('u5@corp.example');
  });

  it('follows member;range= slices until one ends in *', async () => {
    const snap = await read();
    expect(snap.groups).toEqual([
      { id: guid(100), name: 'Big', dn: BIG, memberUserIds: [1, 2, 3, 4, 5].map(guid), memberGroupIds: [] },
    ]);
  });

  it('a failed slice makes the read incomplete, naming the group and the range, keeping what was read', async () => {
    const snap = await read(4);
    expect(snap.complete).toBe(false);
    expect(snap.incompleteReasons).toEqual([
      `group Big (${BIG}): member range 4-* failed: connection lost; 4 members read`,
    ]);
    expect(snap.groups[0]?.memberUserIds).toEqual([1, 2, 3, 4].map(guid));
  });

  it('a failed slice flags the group unreadable, so its shorter list is never taken as the truth', async () => {
    const snap = await read(4);
    expect(snap.groups[0]?.unreadable).toBe('member range 4-* failed: connection lost; 4 members read');
    expect((await read()).groups[0]?.unreadable).toBeUndefined();
  });
});
