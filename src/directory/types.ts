// The directory side of a sync: what every source (file, LDAP, Entra) hands the core. Plain data,
// so the reconcile functions stay pure and any source can be tested against the same model.

export interface DirectoryUser {
  /** Stable id (entryUUID, objectGUID, Entra object id): never a DN alone, so renames are not delete+add. */
  id: string;
  /** As the directory holds it; compared case-insensitively after trimming. null = none. */
  email: string | null;
  name: string;
  enabled: boolean;
  /** Where the entry lives, for messages (LDAP DN, Entra UPN, file index). */
  ref?: string;
  attrs?: Record<string, string | string[]>;
}

export interface DirectoryGroup {
  id: string;
  name: string;
  /** LDAP DN, when the source has one: mappings may select by it. */
  dn?: string;
  memberUserIds: string[];
  memberGroupIds: string[];
  /**
   * Set when the group's member list could not be read this run (the bind account may not read
   * the member attribute, a member slice failed…): why, in words. Such a group looks empty or
   * smaller than it is, so the core never removes or downgrades anyone because of it.
   */
  unreadable?: string;
}

export type DirectoryWarningCode =
  | 'user-without-email'
  | 'duplicate-email'
  | 'user-disabled'
  | 'unresolved-member'
  | 'member-outside-base'
  | 'group-cycle'
  | 'invalid-email'
  | 'member-not-a-user'
  | 'member-list-unreadable';

export interface DirectoryWarning {
  code: DirectoryWarningCode;
  message: string;
  /** The user or group the warning is about. */
  subject?: string;
}

export interface DirectorySnapshot {
  /** e.g. `file:config/demo/directory.json`, `ldap://dc1.corp:636`. */
  source: string;
  readAt: string;
  users: DirectoryUser[];
  groups: DirectoryGroup[];
  /**
   * False when any part of the read failed or was truncated (a page, a range slice, a member
   * list). An incomplete snapshot never leads to a removal or a role change (docs/design.md §3).
   */
  complete: boolean;
  incompleteReasons: string[];
  warnings: DirectoryWarning[];
}

/** One job: read the directory. Capabilities beyond that (incremental reads, watches) are separate. */
export interface DirectorySource {
  read(): Promise<DirectorySnapshot>;
}
