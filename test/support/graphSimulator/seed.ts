// A deterministic directory for tests and benchmarks: the same arguments give the same GUIDs, names
// and memberships on every run. GUIDs are hashes (RFC 4122 version 5 layout), so their order says
// nothing about creation order, as in Entra.
import { createHash } from 'node:crypto';
import type { SimGroup, SimUser } from './types.js';

export interface SeedOptions {
  users: number;
  groups: number;
  /** Direct user members of each group (default 10, capped at users). */
  membersPerGroup?: number;
  /** Groups 0..nestedGroups-1 each contain the next group (a chain), so nesting is exercised (default 0). */
  nestedGroups?: number;
  /** Every n-th user is a guest (#EXT# UPN, mail at an outside domain); 0 = none (default 0). */
  guestEvery?: number;
  /** Every n-th user has no mail; 0 = none (default 0). */
  noMailEvery?: number;
  /** Every n-th user is disabled; 0 = none (default 0). */
  disabledEvery?: number;
  /** Verified domain of the tenant (default corp.example.com). */
  domain?: string;
  /** Varies the GUIDs between directories made in one test (default ''). */
  salt?: string;
}

/** A deterministic GUID for a name. */
export function seedGuid(name: string): string {
  const h = createHash('sha1').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

const every = (n: number | undefined, i: number): boolean => n !== undefined && n > 0 && (i + 1) % n === 0;

export function seedDirectory(o: SeedOptions): { users: SimUser[]; groups: SimGroup[] } {
  const domain = o.domain ?? 'corp.example.com';
  const salt = o.salt ?? '';
  const users: SimUser[] = new Array(o.users);
  for (let i = 0; i < o.users; i++) {
    const name = `user${String(i).padStart(5, '0')}`;
    const guest = every(o.guestEvery, i);
    const mail = every(o.noMailEvery, i) ? null : guest ? `${name}@gmail.example` : `${name}@${domain}`;
    users[i] = {
      id: seedGuid(`${salt}user:${i}`),
      displayName: `User ${i}`,
      mail,
      userPrincipalName: guest
        ? `${name}_gmail.example#EXT#@${domain.split('.')[0]}.onmicrosoft.com`
        : `${name}@${domain}`,
      accountEnabled: !every(o.disabledEvery, i),
      userType: guest ? 'Guest' : 'Member',
      department: `Dept ${i % 17}`,
    };
  }
  const per = Math.min(o.membersPerGroup ?? 10, o.users);
  const groups: SimGroup[] = new Array(o.groups);
  for (let g = 0; g < o.groups; g++) {
    const members: string[] = [];
    // A stride through the users, so groups overlap but are not all the same people.
    const start = (g * 7919) % Math.max(1, o.users);
    for (let j = 0; j < per; j++) members.push(users[(start + j) % o.users]!.id);
    groups[g] = {
      id: seedGuid(`${salt}group:${g}`),
      displayName: `Group ${String(g).padStart(4, '0')}`,
      members,
    };
  }
  const nested = Math.min(o.nestedGroups ?? 0, Math.max(0, o.groups - 1));
  for (let g = 0; g < nested; g++) groups[g]!.members.push(groups[g + 1]!.id);
  return { users, groups };
}
