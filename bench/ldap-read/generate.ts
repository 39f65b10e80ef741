// The directory bench/ldap-read loads: N inetOrgPerson users and G groupOfNames groups as ONE LDIF
// for `slapadd -q`. slapadd runs no overlays, so memberOf (users and nested groups) is written here,
// exactly as the memberof overlay would have. Deterministic (seeded).

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mulberry32 } from '../../src/simulator/prng.js';

export const SUFFIX = 'dc=example,dc=com';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const GROUPS = `ou=groups,${SUFFIX}`;

export interface GeneratedDirectory {
  users: number;
  groups: number;
  /** member values pointing at users / at groups. */
  userMemberships: number;
  groupMemberships: number;
  largestGroup: number;
  disabledUsers: number;
  ldifBytes: number;
}

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Radia', 'Tim'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Perlman'];
// About 2% of users get one of these (written base64, as LDIF requires for non-ASCII).
const NON_ASCII = ['Zoë', 'José', 'Łukasz', 'Ærøskøbing', '山田', 'Ngozi Ọkọnkwọ'];

const uid = (i: number) => `user${String(i).padStart(6, '0')}`;
const userDn = (i: number) => `uid=${uid(i)},${PEOPLE}`;
const groupName = (g: number) => `group${String(g).padStart(4, '0')}`;
const groupDn = (g: number) => `cn=${groupName(g)},${GROUPS}`;

function line(attr: string, value: string): string {
  // LDIF (RFC 2849): a value that is not plain ASCII, or starts with space/colon/<, goes base64.
  return /^[\x20-\x7e]*$/.test(value) && !/^[ :<]/.test(value) && !value.endsWith(' ')
    ? `${attr}: ${value}\n`
    : `${attr}:: ${Buffer.from(value, 'utf8').toString('base64')}\n`;
}

/**
 * Memberships: every user is in 1-4 random groups (2.5 on average); group0001 holds every 10th user
 * (10,000 of 100k), groups 2-5 hold 2,000 each. Every 10th group nests two others (random, so there
 * are diamonds and cycles as in real directories).
 */
export async function generateLdif(path: string, userCount: number, groupCount: number, seed = 42) {
  const rnd = mulberry32(seed);
  const pick = (n: number) => Math.floor(rnd() * n);
  const userGroups: number[][] = Array.from({ length: userCount + 1 }, () => []);
  const groupUsers: number[][] = Array.from({ length: groupCount + 1 }, () => []);
  const groupChildren: number[][] = Array.from({ length: groupCount + 1 }, () => []);
  const groupParents: number[][] = Array.from({ length: groupCount + 1 }, () => []);
  const join = (u: number, g: number) => {
    const gs = userGroups[u] as number[];
    if (gs.includes(g)) return;
    gs.push(g);
    (groupUsers[g] as number[]).push(u);
  };
  for (let u = 1; u <= userCount; u++) {
    const k = 1 + pick(4);
    for (let j = 0; j < k; j++) join(u, 6 + pick(Math.max(1, groupCount - 5)));
    if (u % 10 === 0) join(u, 1);
    if (u <= 4 * 2_000 && groupCount >= 5) join(u, 2 + Math.floor((u - 1) / 2_000));
  }
  for (let g = 10; g <= groupCount; g += 10) {
    for (let j = 0; j < 2; j++) {
      const child = 1 + pick(groupCount);
      if (child === g || (groupChildren[g] as number[]).includes(child)) continue;
      (groupChildren[g] as number[]).push(child);
      (groupParents[child] as number[]).push(g);
    }
  }

  const out = createWriteStream(path);
  let bytes = 0;
  let pending = '';
  const write = async (s: string) => {
    pending += s;
    if (pending.length < 1 << 20) return;
    bytes += Buffer.byteLength(pending);
    if (!out.write(pending)) await once(out, 'drain');
    pending = '';
  };

  await write(
    `dn: ${SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n` +
      `dn: ${PEOPLE}\nobjectClass: organizationalUnit\nou: people\n\n` +
      `dn: ${GROUPS}\nobjectClass: organizationalUnit\nou: groups\n\n`,
  );
  let disabled = 0;
  for (let u = 1; u <= userCount; u++) {
    const nonAscii = pick(50) === 0;
    const given = nonAscii
      ? (NON_ASCII[pick(NON_ASCII.length)] as string)
      : (FIRST[pick(FIRST.length)] as string);
    const sn = LAST[pick(LAST.length)] as string;
    const isDisabled = u % 10 === 0;
    if (isDisabled) disabled++;
    let e =
      `dn: ${userDn(u)}\nobjectClass: inetOrgPerson\nuid: ${uid(u)}\n` +
      line('cn', `${given} ${sn}`) +
      line('givenName', given) +
      line('displayName', `${given} ${sn} (${uid(u)})`) +
      `sn: ${sn}\nmail: ${uid(u)}@example.com\nemployeeNumber: ${u}\ntitle: Engineer ${1 + pick(5)}\n` +
      `employeeType: ${isDisabled ? 'disabled' : 'active'}\n`;
    for (const g of userGroups[u] as number[]) e += `memberOf: ${groupDn(g)}\n`;
    await write(`${e}\n`);
  }
  let userMemberships = 0;
  let groupMemberships = 0;
  let largestGroup = 0;
  for (let g = 1; g <= groupCount; g++) {
    const users = groupUsers[g] as number[];
    const children = groupChildren[g] as number[];
    userMemberships += users.length;
    groupMemberships += children.length;
    largestGroup = Math.max(largestGroup, users.length + children.length);
    let e = `dn: ${groupDn(g)}\nobjectClass: groupOfNames\ncn: ${groupName(g)}\ndescription: bench group ${g}\n`;
    for (const c of children) e += `member: ${groupDn(c)}\n`;
    for (const u of users) e += `member: ${userDn(u)}\n`;
    // groupOfNames needs a member; refint's placeholder, as slapd-seed does.
    if (users.length + children.length === 0) e += `member: cn=placeholder,${SUFFIX}\n`;
    for (const p of groupParents[g] as number[]) e += `memberOf: ${groupDn(p)}\n`;
    await write(`${e}\n`);
  }
  bytes += Buffer.byteLength(pending);
  out.end(pending);
  await once(out, 'finish');
  return {
    users: userCount,
    groups: groupCount,
    userMemberships,
    groupMemberships,
    largestGroup,
    disabledUsers: disabled,
    ldifBytes: bytes,
  } satisfies GeneratedDirectory;
}
