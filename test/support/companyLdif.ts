// The small directory the LDAP watch and incremental-read tests load into slapd: organizational
// units, service accounts to bind as, people with a mail address, and groups of them. Each test
// names only what differs (its accounts, its people, its groups) and appends whatever else it needs.
import { ldifEntry } from './slapd.js';

export interface CompanyLdif {
  suffix: string;
  /** Under the suffix; default people, groups, system. */
  ous?: string[];
  /** Accounts to bind as: `uid=…` DNs with their passwords. */
  accounts: Array<{ dn: string; pw: string }>;
  /** People under ou=people, each `uid` with `<uid>@corp.example`. */
  uids: readonly string[];
  /** Extra attributes of every person (displayName, title…). */
  personExtra?: (uid: string) => Record<string, string>;
  /** groupOfNames entries: DN, cn and member DNs. */
  groups: Array<{ dn: string; cn: string; members: string[] }>;
}

export const personDn = (suffix: string, uid: string) => `uid=${uid},ou=people,${suffix}`;

export function companyLdif(c: CompanyLdif): string {
  const out = (c.ous ?? ['people', 'groups', 'system']).map((ou) =>
    ldifEntry(`ou=${ou},${c.suffix}`, { objectClass: ['top', 'organizationalUnit'], ou }),
  );
  for (const { dn, pw } of c.accounts) {
    const uid = /^uid=([^,]+),/.exec(dn)?.[1] ?? dn;
    out.push(
      ldifEntry(dn, { objectClass: ['top', 'account', 'simpleSecurityObject'], uid, userPassword: pw }),
    );
  }
  for (const uid of c.uids) {
    out.push(
      ldifEntry(personDn(c.suffix, uid), {
        objectClass: ['top', 'inetOrgPerson'],
        uid,
        cn: uid,
        sn: uid,
        mail: `${uid}@corp.example`,
        ...(c.personExtra?.(uid) ?? {}),
      }),
    );
  }
  for (const g of c.groups) {
    out.push(ldifEntry(g.dn, { objectClass: ['top', 'groupOfNames'], cn: g.cn, member: g.members }));
  }
  return out.join('');
}

/** An LDIF change adding `member` to `group`. */
export const addMemberLdif = (group: string, member: string) =>
  `dn: ${group}\nchangetype: modify\nadd: member\nmember: ${member}\n\n`;

/** An LDIF change setting a person's title (a change no mapping cares about). */
export const retitleLdif = (dn: string, title: string) =>
  `dn: ${dn}\nchangetype: modify\nreplace: title\ntitle: ${title}\n\n`;
