// `npm run dev:ldap`: a private OpenLDAP server holding Example Corp, the demo company
// (config/demo/directory.json), for trying the ldap source by hand. It listens on 127.0.0.1 with
// StartTLS and LDAPS (a CA generated at start), prints how to connect and a config snippet, and
// runs until Ctrl-C. config/example-openldap.yaml is written against it.
//
//   npm run dev:ldap [-- --port 3389 --ldaps-port 3636 --dir .idsync/dev-ldap]
//
// Everything lives under --dir (default .idsync/dev-ldap, ignored by git) and is rebuilt at every
// start; the ids (entryUUID) are the demo's, so they are the same every time.
import { readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ldifEntry, startSlapd } from '../test/support/slapd.js';

const SUFFIX = 'dc=corp,dc=example';
const PEOPLE = `ou=people,${SUFFIX}`;
const GROUPS = `ou=groups,${SUFFIX}`;
const SERVICE = `ou=service-accounts,${SUFFIX}`;
const BIND_DN = `uid=idsync,${SERVICE}`;
// A throwaway server on the loopback interface: fixed, printed credentials are the point.
const BIND_PASSWORD = 'idsync-dev-password';
const ROOT_PASSWORD = 'dev-admin-password';

interface DemoUser {
  id: string;
  email?: string | null;
  name: string;
  enabled?: boolean;
  attrs?: Record<string, string>;
}
interface DemoGroup {
  id: string;
  name: string;
  members: string[];
}

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '3389' },
    'ldaps-port': { type: 'string', default: '3636' },
    dir: { type: 'string', default: '.idsync/dev-ldap' },
  },
});

function uidFor(u: DemoUser, taken: Set<string>): string {
  const base = (u.email?.split('@')[0] ?? u.name)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9.]+/g, '-')
    .replace(/^-+|-+$/g, '');
  let uid = base;
  for (let n = 2; taken.has(uid); n++) uid = `${base}${n}`;
  taken.add(uid);
  return uid;
}

async function directoryLdif(): Promise<{ ldif: string; users: number; groups: number }> {
  const demo = JSON.parse(await readFile('config/demo/directory.json', 'utf8')) as {
    users: DemoUser[];
    groups: DemoGroup[];
  };
  const dnById = new Map<string, string>();
  const taken = new Set<string>();
  for (const u of demo.users) dnById.set(u.id, `uid=${uidFor(u, taken)},${PEOPLE}`);
  for (const g of demo.groups) dnById.set(g.id, `cn=${g.name},${GROUPS}`);

  // The memberof overlay does not run under slapadd: memberOf is written here.
  const memberOf = new Map<string, string[]>();
  const memberDns = (g: DemoGroup): string[] =>
    g.members.map((id) => {
      const dn = dnById.get(id);
      if (dn === undefined) return `uid=former.employee,${PEOPLE}`; // the demo's dangling member
      memberOf.set(dn, [...(memberOf.get(dn) ?? []), `cn=${g.name},${GROUPS}`]);
      return dn;
    });
  const groupEntries = demo.groups.map((g) => {
    const members = memberDns(g);
    // A backup robot outside userBase and groupBase: idsync warns and ignores it.
    if (g.name === 'it') members.push(`uid=backup-bot,${SERVICE}`);
    return { g, members };
  });

  const out: string[] = [];
  for (const ou of ['people', 'groups', 'service-accounts']) {
    out.push(ldifEntry(`ou=${ou},${SUFFIX}`, { objectClass: ['top', 'organizationalUnit'], ou }));
  }
  out.push(
    ldifEntry(BIND_DN, {
      objectClass: ['top', 'account', 'simpleSecurityObject'],
      uid: 'idsync',
      description: 'idsync bind account: read-only, ordinary limits',
      userPassword: BIND_PASSWORD,
    }),
    ldifEntry(`uid=backup-bot,${SERVICE}`, {
      objectClass: ['top', 'account', 'simpleSecurityObject'],
      uid: 'backup-bot',
      userPassword: 'not-used',
    }),
  );
  for (const u of demo.users) {
    const dn = dnById.get(u.id) as string;
    const words = u.name.split(' ');
    const disabled = u.enabled === false;
    out.push(
      ldifEntry(dn, {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        uid: (/^uid=([^,]+)/.exec(dn) as RegExpExecArray)[1] as string,
        cn: u.name,
        sn: words.length > 1 ? (words[words.length - 1] as string) : u.name,
        ...(words.length > 1 ? { givenName: words[0] as string } : {}),
        displayName: u.name,
        ...(u.email ? { mail: u.email } : {}),
        employeeType: disabled ? 'disabled' : (u.attrs?.employeeType ?? 'staff'),
        ...(u.attrs?.department ? { departmentNumber: u.attrs.department } : {}),
        ...(u.attrs?.title ? { title: u.attrs.title } : {}),
        entryUUID: u.id,
        memberOf: memberOf.get(dn),
      }),
    );
  }
  for (const { g, members } of groupEntries) {
    const dn = `cn=${g.name},${GROUPS}`;
    out.push(
      ldifEntry(dn, {
        objectClass: ['top', 'groupOfNames'],
        cn: g.name,
        member: members,
        entryUUID: g.id,
        memberOf: memberOf.get(dn),
      }),
    );
  }
  return { ldif: out.join(''), users: demo.users.length, groups: demo.groups.length };
}

async function main(): Promise<void> {
  const dir = resolve(args.dir);
  const { ldif, users, groups } = await directoryLdif();
  const server = await startSlapd({
    dir,
    suffix: SUFFIX,
    rootPassword: ROOT_PASSWORD,
    port: Number(args.port),
    ldapsPort: Number(args['ldaps-port']),
    // Like a stock slapd: an ordinary account may read 500 entries, more only with paging.
    sizeLimit: 'size.soft=500 size.hard=500 size.prtotal=unlimited',
    preload: ldif,
  }).catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(
      `dev:ldap could not start slapd: ${message}\n` +
        (/Address already in use|errno=98|did not answer/i.test(message)
          ? 'Is another dev:ldap running? Pick other ports with: npm run dev:ldap -- --port 3390 --ldaps-port 3637\n'
          : ''),
    );
    process.exit(1);
  });
  const passwordFile = join(dir, 'bind-password');
  await writeFile(passwordFile, `${BIND_PASSWORD}\n`, { mode: 0o600 });
  const caFile = server.caFile as string;
  const rel = (p: string) => relative(resolve('config'), p);

  process.stdout.write(
    [
      `OpenLDAP (slapd) for Example Corp is up: ${users} people, ${groups} groups (pid ${server.pid}).`,
      '',
      `  URL            ${server.url}  (StartTLS)   or   ${server.ldapsUrl}`,
      `  CA certificate ${caFile}`,
      `  bind DN        ${BIND_DN}`,
      `  bind password  ${BIND_PASSWORD}  (also in ${passwordFile})`,
      `  base DN        ${SUFFIX}   people: ${PEOPLE}   groups: ${GROUPS}`,
      `  admin          ${server.rootDN} / ${ROOT_PASSWORD}`,
      '',
      'Look around:',
      `  LDAPTLS_CACERT=${caFile} ldapsearch -x -ZZ -H ${server.url} -D ${BIND_DN} -w ${BIND_PASSWORD} -b ${GROUPS} -E pr=100/noprompt cn member`,
      '',
      'Plan a sync against the Devin simulator (config/example-openldap.yaml is this snippet, documented):',
      '  npx idsync simulator --port 8080                      # in another terminal',
      '  IDSYNC_DEVIN_URL=http://127.0.0.1:8080 IDSYNC_DEVIN_TOKEN=cog_demo_idsync_token \\',
      '    npx idsync plan --config config/example-openldap.yaml',
      '',
      'source:',
      '  type: ldap',
      `  url: ${server.url}`,
      '  startTLS: true',
      `  caFile: ${rel(caFile)}            # relative to the config file's directory`,
      `  bindDN: ${BIND_DN}`,
      `  bindPasswordFile: ${rel(passwordFile)}`,
      '  profile: openldap',
      `  userBase: ${PEOPLE}`,
      `  groupBase: ${GROUPS}`,
      '  disabledFilter: (employeeType=disabled)',
      '',
      'Ctrl-C stops the server.',
      '',
    ].join('\n'),
  );

  const shutdown = async (): Promise<void> => {
    process.stdout.write('\nstopping slapd\n');
    // Keep the directory: the CA and password files stay valid for the next start's config.
    await server.kill('SIGTERM');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
  // Stay up: slapd is a child process, and this keeps the event loop alive for the signals.
  setInterval(() => undefined, 1 << 30);
}

void main();
