// The directory the slapd integration tests read: 5,000 generated people loaded offline, a group of
// 1,600, two service accounts (one with a per-identity size limit), and the hand-written awkward
// cases (escaped and non-ASCII DNs, nesting with a cycle, members outside the bases) added live so
// the memberof overlay runs on them.
import { type LdifAttrs, ldifEntry } from './slapd.js';

export const SUFFIX = 'dc=example,dc=com';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;
export const SYSTEM = `ou=system,${SUFFIX}`;

export const READER_DN = `uid=idsync,${SYSTEM}`;
export const READER_PASSWORD = 'reader-Pa55!';
/** Same rights, but a per-identity limit that stops a paged read at 500 entries. */
export const CAPPED_DN = `uid=idsync-capped,${SYSTEM}`;
export const CAPPED_PASSWORD = 'capped-Pa55!';

export const GENERATED_USERS = 5000;
export const BIG_GROUP_SIZE = 1600;
export const DISABLED_EVERY = 50;

export const userDn = (n: number): string => `uid=${userUid(n)},${PEOPLE}`;
export const userUid = (n: number): string => `user${String(n).padStart(5, '0')}`;
export const userMail = (n: number): string => `${userUid(n)}@corp.example`;

/**
 * Every identity is an ordinary entry, so the database size limit applies to it (the rootdn
 * ignores all limits). `size.prtotal=unlimited` is what lets paged searches past the 500.
 */
export const DATABASE_SIZE_LIMIT = 'size.soft=500 size.hard=500 size.prtotal=unlimited';
export const CAPPED_LIMITS = [`dn.exact="${CAPPED_DN}" size.soft=500 size.hard=500 size.prtotal=500`];

/** The offline part: OUs, service accounts, 5,000 people and the big group (memberOf written in). */
export function preloadLdif(): string {
  const out: string[] = [];
  for (const ou of ['people', 'groups', 'system']) {
    out.push(ldifEntry(`ou=${ou},${SUFFIX}`, { objectClass: ['top', 'organizationalUnit'], ou }));
  }
  for (const [dn, uid, pw] of [
    [READER_DN, 'idsync', READER_PASSWORD],
    [CAPPED_DN, 'idsync-capped', CAPPED_PASSWORD],
  ] as const) {
    out.push(
      ldifEntry(dn, { objectClass: ['top', 'account', 'simpleSecurityObject'], uid, userPassword: pw }),
    );
  }
  const bigGroupDn = `cn=big-group,${GROUPS}`;
  for (let n = 1; n <= GENERATED_USERS; n++) {
    const attrs: LdifAttrs = {
      objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
      uid: userUid(n),
      cn: `User ${n}`,
      sn: `User${n}`,
      givenName: 'Test',
      displayName: `Test User ${n}`,
      mail: userMail(n),
      employeeType: n % DISABLED_EVERY === 0 ? 'disabled' : 'active',
      departmentNumber: `D${n % 7}`,
      memberOf: n <= BIG_GROUP_SIZE ? bigGroupDn : undefined,
    };
    out.push(ldifEntry(userDn(n), attrs));
  }
  out.push(
    ldifEntry(bigGroupDn, {
      objectClass: ['top', 'groupOfNames'],
      cn: 'big-group',
      member: Array.from({ length: BIG_GROUP_SIZE }, (_, i) => userDn(i + 1)),
    }),
  );
  return out.join('');
}

/** People whose DNs and values need escaping: [rdn as written, display name, mail]. */
export const SPECIAL_PEOPLE = [
  { rdn: 'cn=Smith\\, John', displayName: 'Smith, John', mail: 'john.smith@corp.example' },
  { rdn: 'cn=A\\+B', displayName: 'A+B', mail: 'a.plus.b@corp.example' },
  { rdn: 'cn=Multi+uid=multi.valued', displayName: 'Multi Valued', mail: 'multi@corp.example' },
  { rdn: 'cn=Back\\\\slash', displayName: 'Back\\slash', mail: 'back.slash@corp.example' },
  { rdn: 'cn=\\#Hash', displayName: '#Hash', mail: 'hash@corp.example' },
  { rdn: 'cn=\\"Quoted\\"', displayName: '"Quoted"', mail: 'quoted@corp.example' },
  { rdn: 'cn=\\ Leading Space', displayName: ' Leading Space', mail: 'leading@corp.example' },
  { rdn: 'cn=Zoë Ångström', displayName: 'Zoë Ångström', mail: 'zoe@corp.example' },
  { rdn: 'cn=山田 太郎', displayName: '山田 太郎', mail: 'yamada@corp.example' },
] as const;

/** The same people's DNs as another tool might write them in a member attribute. */
export const SPECIAL_MEMBER_FORMS = [
  `CN=Smith\\2C John, OU=People,DC=Example,DC=Com`,
  `cn = A\\2bB, ou=people,dc=example,dc=com`,
  `UID=multi.valued+CN=MULTI,ou=people,dc=example,dc=com`,
  `cn=back\\5cslash,ou=people,dc=example,dc=com`,
  `cn=\\23hash,ou=people,dc=example,dc=com`,
  `cn=\\22quoted\\22,ou=people,dc=example,dc=com`,
  `cn=\\20Leading Space,ou=people,dc=example,dc=com`,
  `cn=Zo\\C3\\AB \\C3\\85ngstr\\C3\\B6m,ou=people,dc=example,dc=com`,
  `cn=山田 太郎,ou=People,dc=Example,dc=com`,
];

export const SPECIAL_GROUP_CN = 'R&D, "Core" + #1 \\ Zoë';
export const SPECIAL_GROUP_RDN = 'cn=R&D\\, \\"Core\\" \\+ #1 \\\\ Zoë';

export const OUTSIDE_MEMBERS = [`uid=partner,ou=partners,dc=other,dc=org`, `uid=idsync,${SYSTEM}`];
export const GHOST_MEMBER = `uid=ghost,${PEOPLE}`;

export const NEST_DEPTH = 5;
export const nestDn = (i: number): string => `cn=nest-${i},${GROUPS}`;

/** Live part (ldapadd: memberof and refint run). */
export function liveLdif(): { adds: string; closeCycle: string } {
  const out: string[] = [];
  for (const p of SPECIAL_PEOPLE) {
    const multi = p.rdn.startsWith('cn=Multi+');
    out.push(
      ldifEntry(`${p.rdn},${PEOPLE}`, {
        objectClass: ['top', 'person', 'organizationalPerson', 'inetOrgPerson'],
        // The naming attribute's value has to be in the entry, exactly as in the RDN.
        cn: multi ? 'Multi' : p.displayName,
        ...(multi ? { uid: 'multi.valued' } : {}),
        sn: 'Special',
        displayName: p.displayName,
        mail: p.mail,
        employeeType: 'active',
      }),
    );
  }
  out.push(
    ldifEntry(`${SPECIAL_GROUP_RDN},${GROUPS}`, {
      objectClass: ['top', 'groupOfNames'],
      cn: SPECIAL_GROUP_CN,
      member: [...SPECIAL_MEMBER_FORMS, ...OUTSIDE_MEMBERS, GHOST_MEMBER],
    }),
  );
  // Children first: memberof only fills memberOf for members that already exist.
  for (let i = NEST_DEPTH; i >= 1; i--) {
    out.push(
      ldifEntry(nestDn(i), {
        objectClass: ['top', 'groupOfNames'],
        cn: `nest-${i}`,
        member: [userDn(4000 + i), ...(i < NEST_DEPTH ? [nestDn(i + 1)] : [])],
      }),
    );
  }
  out.push(
    ldifEntry(`cn=unique-group,${GROUPS}`, {
      objectClass: ['top', 'groupOfUniqueNames'],
      cn: 'unique-group',
      uniqueMember: [`${userDn(4100)}#'0101'B`, userDn(4101)],
    }),
  );
  // The edge that closes the cycle nest-5 → nest-1.
  const closeCycle = `dn: ${nestDn(NEST_DEPTH)}\nchangetype: modify\nadd: member\nmember: ${nestDn(1)}\n\n`;
  return { adds: out.join(''), closeCycle };
}

/** Users in ou=people once the live part is in. */
export const TOTAL_USERS = GENERATED_USERS + SPECIAL_PEOPLE.length;
