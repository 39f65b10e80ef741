// What an admin reads: links between ops that the diff sees as unrelated. Pure. It changes no op's
// effect, only its reasons, and adds warnings:
// - a directory user whose email changed (same directory id) is one person, not a leaver and a
//   joiner: Devin has no rename, so the old address is removed and the new one invited, and both
//   ops say so;
// - a directory group renamed (same id) is why its old IdP group goes away;
// - adopting a user who holds hand-given access that no mapping grants strips that access on the
//   first apply: say so before it happens.
import type { DirectorySnapshot } from '../directory/types.js';
import type { LastRun } from '../state/ledger.js';
import { emailKey } from '../state/ledger.js';
import { type DesiredState, renderIdpGroupName } from './desiredState.js';
import type { Op, PlanWarning } from './plan.js';

export interface ExplainInput {
  ops: readonly Op[];
  desired: Pick<DesiredState, 'userIds'>;
  directory: Pick<DirectorySnapshot, 'users' | 'groups'>;
  lastRun: LastRun | undefined;
}

export interface ExplainResult {
  ops: Op[];
  warnings: PlanWarning[];
}

export function explainChanges(input: ExplainInput): ExplainResult {
  const warnings: PlanWarning[] = [];
  const extra = new Map<string, string[]>();
  const note = (key: string, reason: string) => {
    const list = extra.get(key) ?? [];
    list.push(reason);
    extra.set(key, list);
  };
  const removals = new Map<string, Op>();
  for (const op of input.ops) if (op.kind === 'removeUser') removals.set(emailKey(op.email), op);

  // Email changes: last run's id → address, against this run's.
  const lastIds = input.lastRun?.userIds;
  if (lastIds && removals.size > 0) {
    const usersById = new Map(input.directory.users.map((u) => [u.id, u]));
    const invitedIn = new Map<string, string>();
    for (const op of input.ops) {
      if (op.kind === 'inviteUsers') for (const e of op.emails) invitedIn.set(emailKey(e), op.key);
    }
    for (const [id, oldKey] of Object.entries(lastIds)) {
      const removal = removals.get(oldKey);
      if (!removal) continue;
      const newKey = input.desired.userIds[id];
      const user = usersById.get(id);
      const newAddress = newKey ?? (user?.email ? emailKey(user.email) : undefined);
      if (newAddress === undefined || newAddress === oldKey) continue;
      const who = user ? `${user.name} (directory id ${id})` : `directory id ${id}`;
      const msg = `${who} changed address from ${oldKey} to ${newAddress}; Devin has no rename, so ${newKey ? `${newAddress} is invited and ` : ''}${oldKey} is removed`;
      warnings.push({ code: 'email-changed', message: msg, subject: oldKey });
      note(removal.key, msg);
      const invite = newKey ? invitedIn.get(newKey) : undefined;
      if (invite) note(invite, msg);
    }
  }

  // Group renames: a last-run group whose id now carries another name.
  const lastGroups = input.lastRun?.mappedGroups;
  if (lastGroups) {
    const unregisters = new Map<string, Op>();
    for (const op of input.ops) if (op.kind === 'unregisterIdpGroup') unregisters.set(op.group, op);
    const groupsById = new Map(input.directory.groups.map((g) => [g.id, g]));
    for (const before of lastGroups) {
      const now = groupsById.get(before.id);
      if (!now || now.name === before.name) continue;
      for (const key of before.mappings) {
        const template = templateOf(key);
        if (template === undefined || template.includes('{dn}')) continue;
        const oldName = renderIdpGroupName(template, { ...now, name: before.name });
        const op = unregisters.get(oldName);
        if (!op) continue;
        const newName = renderIdpGroupName(template, now);
        const msg = `directory group ${before.name} was renamed to ${now.name} (same id ${before.id}); its IdP group is now "${newName}", so "${oldName}" goes`;
        warnings.push({ code: 'group-renamed', message: msg, subject: oldName });
        note(op.key, msg);
      }
    }
  }

  // Adoption that strips hand-given access.
  const adoptedUsers = new Set<string>();
  for (const op of input.ops) {
    if (op.kind === 'adopt' && op.target.type === 'user') adoptedUsers.add(emailKey(op.target.email));
  }
  if (adoptedUsers.size > 0) {
    const stripped = new Map<string, string[]>();
    for (const op of input.ops) {
      if (op.kind !== 'removeOrgUser' && op.kind !== 'setOrgUserRole' && op.kind !== 'setUserEnterpriseRole')
        continue;
      const k = emailKey(op.email);
      if (!adoptedUsers.has(k)) continue;
      const what =
        op.kind === 'removeOrgUser'
          ? `their ${op.expected.role.name} role in ${op.org.name}`
          : op.kind === 'setOrgUserRole'
            ? `their ${op.expected.role.name} role in ${op.org.name} (becomes ${op.role.name})`
            : `their enterprise role ${op.expected.role.name} (becomes ${op.role.name})`;
      note(
        op.key,
        `${op.email} is adopted in this plan; ${what} was given by hand and no mapping grants it, so adopting takes it away`,
      );
      stripped.set(k, [...(stripped.get(k) ?? []), what]);
    }
    for (const [k, whats] of stripped) {
      warnings.push({
        code: 'adopt-strips-access',
        message: `adopting ${k} takes away access given by hand that no mapping grants: ${whats.join('; ')}. Review before the first apply; to keep it, add a mapping or list the user in scope.protectedUsers`,
        subject: k,
      });
    }
  }

  if (extra.size === 0) return { ops: [...input.ops], warnings };
  return {
    ops: input.ops.map((op) => {
      const more = extra.get(op.key);
      return more ? { ...op, reasons: [...more, ...op.reasons] } : op;
    }),
    warnings,
  };
}

/** The idpGroupName template inside a mapping key (desiredState.mappingKey). */
function templateOf(key: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(key);
    return Array.isArray(parsed) && typeof parsed[2] === 'string' ? parsed[2] : undefined;
  } catch {
    return undefined;
  }
}
