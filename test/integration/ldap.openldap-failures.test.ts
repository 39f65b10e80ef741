// The server going away during a read, against a real slapd: killed with SIGKILL part way through
// the user pages, the read comes back incomplete and the plan made from it removes nobody; killed
// and restarted between listings, the connector reconnects, redoes StartTLS and binds again.
import type { Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/index.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import { createLogger } from '../../src/log/logger.js';
import type { DevinSnapshot, DevinUser } from '../../src/model/devin.js';
import {
  DEFAULT_GUARDRAILS,
  planSync,
  REMOVAL_KINDS,
  ROLE_CHANGE_KINDS,
  type SyncPolicy,
} from '../../src/reconcile/index.js';
import { EMPTY_LEDGER, type OwnershipLedger } from '../../src/state/ledger.js';
import { type Slapd, startSlapd } from '../support/slapd.js';
import {
  BIG_GROUP_SIZE,
  DATABASE_SIZE_LIMIT,
  GENERATED_USERS,
  GROUPS,
  PEOPLE,
  preloadLdif,
  READER_DN,
  READER_PASSWORD,
  userMail,
} from '../support/slapdFixtures.js';

let server: Slapd;

beforeAll(async () => {
  server = await startSlapd({ sizeLimit: DATABASE_SIZE_LIMIT, preload: preloadLdif() });
});

afterAll(async () => {
  await server?.stop();
});

const config = (over: Partial<LdapSourceConfig> = {}): LdapSourceConfig => ({
  type: 'ldap',
  url: server.url,
  startTLS: true,
  caFile: server.caFile as string,
  ca: server.caPem as string,
  bindDN: READER_DN,
  bindPassword: READER_PASSWORD,
  profile: 'openldap',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
  pageSize: 100,
  ...over,
});

function memoryLogger(): { logger: Logger; lines: Array<{ level: number; msg: string; reason?: string }> } {
  const lines: Array<{ level: number; msg: string }> = [];
  const logger = createLogger({
    level: 'info',
    destination: { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) },
  });
  return { logger, lines };
}

// Devin already holds ten members of big-group that idsync invited. They sit on page 11 and later
// of the user listing (pageSize 100), which the killed read never reaches.
const OWNED = Array.from({ length: 10 }, (_, i) => userMail(1001 + i));

const devin: DevinSnapshot = {
  readAt: '2026-01-01T00:00:00.000Z',
  orgs: [{ id: 'org-platform', name: 'Platform' }],
  roles: [
    { id: 'account_admin', name: 'Admin', type: 'enterprise' },
    { id: 'account_member', name: 'Member', type: 'enterprise' },
    { id: 'org_admin', name: 'Org Admin', type: 'org' },
    { id: 'org_member', name: 'Org Member', type: 'org' },
  ],
  registeredGroups: [],
  groupRoles: [],
  users: [
    {
      id: 'user-breakglass',
      email: 'breakglass@corp.example',
      name: 'Break Glass',
      enterpriseRoleId: 'account_admin',
      orgRoles: {},
    },
    ...OWNED.map(
      (email, i): DevinUser => ({
        id: `user-${i}`,
        email,
        name: email,
        enterpriseRoleId: 'account_member',
        orgRoles: { 'org-platform': 'org_member' },
      }),
    ),
  ],
};

const policy: SyncPolicy = {
  mappings: [
    {
      group: { name: 'big-group' },
      idpGroupName: 'devin-{name}',
      enterpriseRole: 'account_member',
      orgs: [{ org: 'Platform', role: 'org_member' }],
      provisionUsers: true,
    },
  ],
  scope: {
    emailDomains: ['corp.example'],
    protectedUsers: ['breakglass@corp.example'],
    groupNamePattern: 'devin-*',
    deprovision: 'remove',
    adopt: 'matching',
  },
  rolePrecedence: [],
  guardrails: DEFAULT_GUARDRAILS,
};

const ledger: OwnershipLedger = { ...EMPTY_LEDGER, users: OWNED };

describe('the server killed mid-read', () => {
  it.each([
    ['ldaps://', () => ({ url: server.ldapsUrl as string, startTLS: false })],
    ['StartTLS', () => ({})],
  ])(
    'over %s: an incomplete snapshot, and the plan from it removes and demotes nobody',
    async (_name, transport) => {
      const { logger, lines } = memoryLogger();
      const over: Partial<LdapSourceConfig> = transport();
      const source = ldapSource(config(over), {
        logger,
        onProgress: async (p) => {
          if (p.phase === 'users' && p.pages === 3) await server.kill('SIGKILL');
        },
      });
      const snapshot = await source.read();
      await server.restart();

      expect(snapshot.complete).toBe(false);
      expect(snapshot.users).toHaveLength(300);
      expect(snapshot.groups).toEqual([]);
      expect(snapshot.incompleteReasons).toEqual([
        expect.stringMatching(
          /^users under ou=people,dc=example,dc=com .*: page 4 failed after 300 entries: connection lost$/,
        ),
        expect.stringMatching(
          /^groups under ou=groups,dc=example,dc=com .*: not read: cannot connect to ldaps?:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\)$/,
        ),
      ]);
      expect(lines.some((l) => l.msg.startsWith('LDAP read INCOMPLETE'))).toBe(true);

      const plan = planSync({ policy, directory: snapshot, devin, ledger });
      expect(plan.ops.filter((o) => REMOVAL_KINDS.has(o.kind) || ROLE_CHANGE_KINDS.has(o.kind))).toEqual([]);
      expect(plan.complete).toBe(false);
      expect(plan.warnings[0]?.code).toBe('incomplete-read');
      expect(plan.warnings[0]?.message).toMatch(/connection lost/);

      // All ten are listed as held back by the incomplete read.
      const held = plan.held.filter((h) => h.op.kind === 'removeUser');
      expect(held).toHaveLength(OWNED.length);
      expect(held.every((h) => h.reasons.some((r) => r.guard === 'incomplete-read'))).toBe(true);
      // Even taken at its word the snapshot removes nobody: no group was read, so every mapping
      // selects nothing, and that holds the same ten back on its own.
      const naive = planSync({
        policy,
        directory: { ...snapshot, complete: true, incompleteReasons: [] },
        devin,
        ledger,
      });
      expect(naive.ops.filter((o) => o.kind === 'removeUser')).toEqual([]);
      expect(naive.held.filter((h) => h.op.kind === 'removeUser')).toHaveLength(OWNED.length);
      expect(naive.held[0]?.reasons[0]?.guard).toBe('selector-miss');
    },
  );
});

describe('the connection lost between listings', () => {
  it('reconnects, redoes StartTLS, binds again and completes the read', async () => {
    const { logger, lines } = memoryLogger();
    const source = ldapSource(config({ pageSize: 1000 }), {
      logger,
      onProgress: async (p) => {
        // After the last user page: the users listing is whole, the groups listing not started.
        if (p.phase === 'users' && p.entries === GENERATED_USERS) await server.restart();
      },
    });
    const snapshot = await source.read();
    expect(snapshot.complete).toBe(true);
    expect(snapshot.users).toHaveLength(GENERATED_USERS);
    expect(snapshot.groups.find((g) => g.name === 'big-group')?.memberUserIds).toHaveLength(BIG_GROUP_SIZE);
    expect(lines.filter((l) => l.msg.startsWith('LDAP connection lost; reconnecting'))).toHaveLength(1);
    expect(lines.find((l) => l.msg === 'LDAP read complete')).toMatchObject({ reconnects: 1 });
  });
});
