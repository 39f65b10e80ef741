// Directory data a real slapd holds that used to cost people their access, through the real
// connector and the pure planner, run after run as a sync would (the Devin side is the in-memory
// model of test/support/devinModel.ts, which applies a plan's ops the way the handlers do):
// - addresses Devin refuses (`sp aced@…`, `x@evil.example@corp.example`, in scope because the
//   domain is read after the last `@`) made Devin refuse the whole invite batch of 100, every run;
//   now those users are left out with `invalid-email` and their colleagues are invited;
// - a user whose mail changed (same entryUUID) read as an unrelated leaver and joiner; now both
//   ops say it is one person.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LdapSourceConfig } from '../../src/config/index.js';
import { ldapSource } from '../../src/directory/ldap/index.js';
import type { DevinSnapshot } from '../../src/model/devin.js';
import { DEFAULT_GUARDRAILS, type Plan, planSync, type SyncPolicy } from '../../src/reconcile/index.js';
import { EMPTY_LEDGER, lastRunOf, type OwnershipLedger } from '../../src/state/ledger.js';
import { applyOps } from '../support/devinModel.js';
import { ldifEntry, type Slapd, startSlapd } from '../support/slapd.js';

const SUFFIX = 'dc=example,dc=com';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const person = (uid: string) => `uid=${uid},${PEOPLE}`;
const TEAM = Array.from({ length: 120 }, (_, i) => `dev${String(i).padStart(3, '0')}`);
const BAD = {
  spaced: 'sp aced@corp.example',
  twoAts: 'x@evil.example@corp.example',
};

function preload(): string {
  const out: string[] = [];
  for (const ou of ['people', 'groups']) {
    out.push(ldifEntry(`ou=${ou},${SUFFIX}`, { objectClass: ['top', 'organizationalUnit'], ou }));
  }
  const user = (uid: string, mail: string) =>
    ldifEntry(person(uid), {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid,
      cn: uid,
      sn: uid,
      mail,
    });
  for (const uid of TEAM) out.push(user(uid, `${uid}@corp.example`));
  out.push(user('spaced', BAD.spaced), user('twoats', BAD.twoAts));
  out.push(
    ldifEntry(`cn=devin-devs,${GROUPS}`, {
      objectClass: ['top', 'groupOfNames'],
      cn: 'devin-devs',
      member: [...TEAM, 'spaced', 'twoats'].map(person),
    }),
  );
  return out.join('');
}

let server: Slapd;
beforeAll(async () => {
  server = await startSlapd({ tls: false, preload: preload() });
});
afterAll(async () => {
  await server?.stop();
});

const config = (): LdapSourceConfig => ({
  type: 'ldap',
  url: server.url,
  bindDN: server.rootDN,
  bindPassword: server.rootPassword,
  profile: 'openldap',
  userBase: PEOPLE,
  groupBase: GROUPS,
  insecureSkipVerify: false,
});

const policy: SyncPolicy = {
  mappings: [
    {
      group: { name: 'devin-devs' },
      idpGroupName: '{name}',
      enterpriseRole: 'account_member',
      orgs: [{ org: 'Platform', role: 'org_member' }],
      provisionUsers: true,
    },
  ],
  scope: {
    emailDomains: ['corp.example'],
    protectedUsers: [],
    groupNamePattern: 'devin-*',
    deprovision: 'remove',
    adopt: 'matching',
  },
  rolePrecedence: [],
  guardrails: DEFAULT_GUARDRAILS,
};

const emptyDevin: DevinSnapshot = {
  readAt: 't',
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
      id: 'user-bg',
      email: 'breakglass@corp.example',
      name: 'BG',
      enterpriseRoleId: 'account_admin',
      orgRoles: {},
    },
  ],
};

const invited = (plan: Plan) => plan.ops.flatMap((o) => (o.kind === 'inviteUsers' ? o.emails : []));

describe('addresses Devin would refuse, read from a real slapd', () => {
  it('leaves them out with invalid-email and invites all 120 colleagues in batches Devin accepts', async () => {
    const snapshot = await ldapSource(config()).read();
    expect(snapshot.complete).toBe(true);
    const plan = planSync({ policy, directory: snapshot, devin: emptyDevin, ledger: EMPTY_LEDGER });
    expect(invited(plan)).toHaveLength(TEAM.length);
    expect(invited(plan)).not.toContain(BAD.spaced);
    expect(invited(plan)).not.toContain(BAD.twoAts);
    const warnings = plan.warnings.filter((w) => w.code === 'invalid-email').map((w) => w.message);
    expect(warnings).toHaveLength(2);
    expect(warnings.join('\n')).toContain(JSON.stringify(BAD.spaced));
    expect(warnings.join('\n')).toContain(JSON.stringify(BAD.twoAts));
    // Every org add waits on an invite in the same plan; none of them depends on a refused address.
    const adds = plan.ops.filter((o) => o.kind === 'addOrgUser');
    expect(adds).toHaveLength(TEAM.length);
  });
});

describe('a mail changed in the directory, same entryUUID', () => {
  it('links the removal of the old address and the invite of the new one', async () => {
    const first = planSync({
      policy,
      directory: await ldapSource(config()).read(),
      devin: emptyDevin,
      ledger: EMPTY_LEDGER,
    });
    const synced = applyOps(emptyDevin, EMPTY_LEDGER, first.ops);
    const run = lastRunOf(first, new Date());
    expect(run).toBeDefined();
    const ledger: OwnershipLedger = { ...synced.ledger, lastSuccessfulRun: run };

    await server.modify(
      `dn: ${person('dev007')}\nchangetype: modify\nreplace: mail\nmail: dev.seven@corp.example\n`,
    );
    try {
      const second = planSync({
        policy,
        directory: await ldapSource(config()).read(),
        devin: synced.devin,
        ledger,
      });
      const warning = second.warnings.find((w) => w.code === 'email-changed');
      expect(warning?.message).toContain(
        'changed address from dev007@corp.example to dev.seven@corp.example',
      );
      const removal = second.ops.find((o) => o.key === 'removeUser/dev007@corp.example');
      expect(removal?.reasons[0]).toContain(
        'dev.seven@corp.example is invited and dev007@corp.example is removed',
      );
      const invite = second.ops.find((o) => o.kind === 'inviteUsers');
      expect(invite?.kind === 'inviteUsers' && invite.emails).toEqual(['dev.seven@corp.example']);
      expect(invite?.reasons.some((r) => r.includes('changed address'))).toBe(true);
    } finally {
      await server.modify(
        `dn: ${person('dev007')}\nchangetype: modify\nreplace: mail\nmail: dev007@corp.example\n`,
      );
    }
  });
});
