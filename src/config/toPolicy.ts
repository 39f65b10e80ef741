// The reconcile core's view of the config: plain data, no I/O concerns.
import { normalizeDirectoryId } from '../directory/ids.js';
import type { GroupSelector, MappingSpec, SyncPolicy } from '../reconcile/policy.js';
import type { ConfigOutput, MappingOutput } from './schema.js';

function selectorOf(group: MappingOutput['group']): GroupSelector {
  // The schema guarantees exactly one key; the order here only decides which wins if it did not.
  if (group.name !== undefined) return { name: group.name };
  if (group.dn !== undefined) return { dn: group.dn };
  // Canonical at load, as every source hands ids to the core: a GUID printed in upper case or in
  // braces (as Windows tools do) is the same group.
  if (group.id !== undefined) return { id: normalizeDirectoryId(group.id) };
  if (group.pattern !== undefined) return { pattern: group.pattern };
  throw new Error('group selector without a key (the schema should have rejected it)');
}

function mappingOf(m: MappingOutput): MappingSpec {
  return {
    group: selectorOf(m.group),
    idpGroupName: m.idpGroupName,
    enterpriseRole: m.enterpriseRole,
    orgs: m.orgs.map((o) => ({ org: o.org, role: o.role })),
    provisionUsers: m.provisionUsers,
  };
}

/** Emails and domains are compared case-insensitively after trimming (docs/design.md §3): normalise once here. */
export function toPolicy(cfg: ConfigOutput): SyncPolicy {
  return {
    mappings: cfg.mappings.map(mappingOf),
    scope: {
      emailDomains: cfg.scope.emailDomains.map((d) => d.trim().toLowerCase()),
      protectedUsers: cfg.scope.protectedUsers.map((u) => u.trim().toLowerCase()),
      groupNamePattern: cfg.scope.groupNamePattern,
      deprovision: cfg.scope.deprovision,
      adopt: cfg.scope.adopt,
    },
    rolePrecedence: [...cfg.rolePrecedence],
    guardrails: { ...cfg.guardrails },
  };
}
