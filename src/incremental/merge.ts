// Fresh reads of some subjects replace what the copy said of them; everything else is kept.
import type { DevinFreshReads, DevinSnapshot } from '../model/devin.js';
import { emailKey } from '../state/ledger.js';

export function mergeFresh(copy: DevinSnapshot, fresh: DevinFreshReads): DevinSnapshot {
  const freshIds = new Set<string>();
  for (const u of fresh.users.values()) if (u) freshIds.add(u.id);
  const users = copy.users.filter(
    (u) => !freshIds.has(u.id) && (u.email === null || !fresh.users.has(emailKey(u.email))),
  );
  for (const u of fresh.users.values()) if (u) users.push(u);
  return {
    ...copy,
    users,
    ...(fresh.groups
      ? { registeredGroups: [...fresh.groups.registeredGroups], groupRoles: [...fresh.groups.groupRoles] }
      : {}),
  };
}
