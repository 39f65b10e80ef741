// What the operator asked for, as plain data: the mapping, scope and guardrail parts of the config
// (docs/design.md §4). The config loader produces these; the pure reconcile functions consume them.

/** How a mapping picks directory groups. Exactly one key. */
export type GroupSelector = { name: string } | { dn: string } | { id: string } | { pattern: string };

export interface OrgGrant {
  /** Org name or id, resolved against Devin. */
  org: string;
  /** Org role name or id. */
  role: string;
}

export interface MappingSpec {
  group: GroupSelector;
  /** Name registered in Devin. Template: `{name}` (group name), `{id}`, `{dn}`. Default `{name}`. */
  idpGroupName: string;
  /** Enterprise role name or id. Devin needs one before any org role. */
  enterpriseRole?: string | undefined;
  orgs: OrgGrant[];
  /** Also give the group's members direct access (invite, org membership). */
  provisionUsers: boolean;
}

export type Deprovision = 'remove' | 'report';
export type AdoptMode = 'none' | 'matching' | 'all';

export interface ScopeSpec {
  /** Users outside these domains are never touched. Empty = every domain. */
  emailDomains: string[];
  /** Never changed or removed (emails, case-insensitive). */
  protectedUsers: string[];
  /** Registry entries idsync may ever own (glob: `*` any run, `?` one character). */
  groupNamePattern: string;
  deprovision: Deprovision;
  adopt: AdoptMode;
}

export interface GuardrailSpec {
  maxUserRemovals: number;
  maxUserRemovalPercent: number;
  maxGroupRemovals: number;
  maxSourceShrinkPercent: number;
  /**
   * A mapped group that lost more than this share of its members since the last successful run
   * (or all of them) blocks the plan's removals until approved, as GCDS limits deletions per group.
   */
  maxGroupShrinkPercent: number;
}

export interface SyncPolicy {
  mappings: MappingSpec[];
  scope: ScopeSpec;
  /** Highest first: orders custom roles when several mappings grant roles in one scope. */
  rolePrecedence: string[];
  guardrails: GuardrailSpec;
}

export const DEFAULT_GUARDRAILS: GuardrailSpec = {
  maxUserRemovals: 25,
  maxUserRemovalPercent: 10,
  maxGroupRemovals: 5,
  maxSourceShrinkPercent: 20,
  maxGroupShrinkPercent: 50,
};
