// Schema conventions of the two directory families, as defaults every one of which the config can
// override. docs/ldap.md has the same table for operators; keep them in step.
import type { LdapSourceConfig } from '../../config/types.js';
import { normalizeDn } from '../dn.js';

export type ProfileName = LdapSourceConfig['profile'];

export interface LdapProfile {
  userFilter: string;
  groupFilter: string;
  /** Users matching it (within userFilter) are read as disabled. */
  disabledFilter?: string;
  /** Active Directory: disabled when userAccountControl has ACCOUNTDISABLE (0x2). */
  disabledByUserAccountControl: boolean;
  idAttribute: string;
  emailAttribute: string;
  emailFallbackAttribute?: string;
  /** User display name; cn, then the email, then the id are the fallbacks. */
  nameAttribute: string;
  groupNameAttribute: string;
  /** Group attributes listing members, read together (a group may use several). */
  memberAttributes: string[];
  /** Those of the member attributes whose values are user names (RFC 2307 memberUid), not DNs. */
  uidMemberAttributes: string[];
  /** The user attribute a user name in a uid member attribute is matched against. */
  uidAttribute: string;
  pageSize: number;
  /** The most the server hands out per page; a larger configured pageSize is lowered to it. */
  maxPageSize?: number;
}

export const PROFILES: Readonly<Record<ProfileName, LdapProfile>> = {
  openldap: {
    userFilter: '(objectClass=inetOrgPerson)',
    groupFilter: '(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))',
    disabledByUserAccountControl: false,
    idAttribute: 'entryUUID',
    emailAttribute: 'mail',
    nameAttribute: 'displayName',
    groupNameAttribute: 'cn',
    // All three at once: a directory mixing groupOfNames and posixGroup must not lose either.
    memberAttributes: ['member', 'uniqueMember', 'memberUid'],
    uidMemberAttributes: ['memberUid'],
    uidAttribute: 'uid',
    // slapd's stock size limit is 500; a page never asks for more than a default server allows.
    pageSize: 500,
  },
  activedirectory: {
    // Computer accounts are objectClass=user too.
    userFilter: '(&(objectClass=user)(!(objectClass=computer)))',
    groupFilter: '(objectClass=group)',
    disabledByUserAccountControl: true,
    idAttribute: 'objectGUID',
    emailAttribute: 'mail',
    emailFallbackAttribute: 'userPrincipalName',
    nameAttribute: 'displayName',
    groupNameAttribute: 'cn',
    memberAttributes: ['member'],
    uidMemberAttributes: ['memberUid'],
    uidAttribute: 'uid',
    // AD's MaxPageSize: it silently returns at most 1000 entries per page whatever is asked.
    pageSize: 1000,
    maxPageSize: 1000,
  },
};

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Where member lists come from: the groups' member attributes, or the users' (and groups')
 * memberOf values, for directories whose ACLs hide member lists (FreeIPA compat trees and the like).
 */
export type MembershipSource = NonNullable<LdapSourceConfig['membership']>;

/** The back-link attribute `membership: memberOf` reads. */
export const MEMBER_OF = 'memberOf';

export type TransportSecurity = 'ldaps' | 'starttls' | 'none';

/** Everything a read needs: the config with the profile's defaults filled in. */
/** A profile's conventions with the config's overrides applied, plus the connection settings. */
export interface LdapSettings extends Omit<LdapProfile, 'maxPageSize'> {
  url: string;
  /** `ldaps://host:port`, without any path: the snapshot's source and every message's subject. */
  origin: string;
  host: string;
  security: TransportSecurity;
  bindDN: string;
  bindPassword: string;
  profile: ProfileName;
  userBase: string;
  groupBase: string;
  /** Canonical forms of the bases (dn.ts), for the member-outside-base check. */
  userBaseKey: string;
  groupBaseKey: string;
  extraUserAttributes: string[];
  membership: MembershipSource;
  /** Set: member lists are requested in slices of this size (range retrieval), not left to the server. */
  rangeSize?: number;
  connectTimeoutMs: number;
  timeoutMs: number;
  /** Server-side search time limit in seconds: just under timeoutMs, so the server's own error wins the race. */
  timeLimitSeconds: number;
  ca?: string;
  caFile?: string;
  insecureSkipVerify: boolean;
  /** A configured pageSize above the profile's cap, lowered (for a log line). */
  pageSizeLowered?: { from: number; to: number };
}

export function resolveSettings(config: LdapSourceConfig): LdapSettings {
  const profile = PROFILES[config.profile];
  const url = new URL(config.url);
  const security: TransportSecurity =
    url.protocol === 'ldaps:' ? 'ldaps' : config.startTLS === true ? 'starttls' : 'none';
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = url.port || (security === 'ldaps' ? '636' : '389');
  const requestedPage = config.pageSize ?? profile.pageSize;
  const pageSize =
    profile.maxPageSize !== undefined ? Math.min(requestedPage, profile.maxPageSize) : requestedPage;
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // memberAttribute is the old one-attribute form of memberAttributes (the schema allows one).
  const memberAttributes =
    config.memberAttributes ?? (config.memberAttribute === undefined ? undefined : [config.memberAttribute]);
  const disabledFilter = config.disabledFilter ?? profile.disabledFilter;
  const emailFallbackAttribute = config.emailFallbackAttribute ?? profile.emailFallbackAttribute;
  return {
    url: config.url,
    origin: `${url.protocol}//${url.hostname}:${port}`,
    host,
    security,
    bindDN: config.bindDN,
    bindPassword: config.bindPassword,
    profile: config.profile,
    userBase: config.userBase,
    groupBase: config.groupBase,
    userBaseKey: normalizeDn(config.userBase),
    groupBaseKey: normalizeDn(config.groupBase),
    userFilter: config.userFilter ?? profile.userFilter,
    groupFilter: config.groupFilter ?? profile.groupFilter,
    ...(disabledFilter === undefined ? {} : { disabledFilter }),
    // An explicit disabledFilter replaces the userAccountControl rule: one definition of "disabled".
    disabledByUserAccountControl: config.disabledFilter === undefined && profile.disabledByUserAccountControl,
    idAttribute: config.idAttribute ?? profile.idAttribute,
    emailAttribute: config.emailAttribute ?? profile.emailAttribute,
    ...(emailFallbackAttribute === undefined ? {} : { emailFallbackAttribute }),
    nameAttribute: config.nameAttribute ?? profile.nameAttribute,
    groupNameAttribute: config.groupNameAttribute ?? profile.groupNameAttribute,
    memberAttributes: uniqueIgnoringCase(memberAttributes ?? profile.memberAttributes),
    uidMemberAttributes: uniqueIgnoringCase(config.uidMemberAttributes ?? profile.uidMemberAttributes),
    uidAttribute: config.uidAttribute ?? profile.uidAttribute,
    membership: config.membership ?? 'member',
    extraUserAttributes: [...(config.extraUserAttributes ?? [])],
    pageSize,
    ...(config.rangeSize === undefined ? {} : { rangeSize: config.rangeSize }),
    connectTimeoutMs: config.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    timeoutMs,
    timeLimitSeconds: Math.max(1, Math.ceil(timeoutMs / 1000) - 1),
    ...(config.ca === undefined ? {} : { ca: config.ca }),
    ...(config.caFile === undefined ? {} : { caFile: config.caFile }),
    insecureSkipVerify: config.insecureSkipVerify,
    ...(pageSize === requestedPage ? {} : { pageSizeLowered: { from: requestedPage, to: pageSize } }),
  };
}

/** Attribute names are case-insensitive: `member` and `Member` are one attribute, read once. */
function uniqueIgnoringCase(names: readonly string[]): string[] {
  const seen = new Set<string>();
  return names.filter((n) => {
    const k = n.toLowerCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Whether values of this member attribute are user names (matched on uidAttribute), not DNs. */
export function isUidMemberAttribute(s: LdapSettings, attribute: string): boolean {
  const a = attribute.toLowerCase();
  return s.uidMemberAttributes.some((u) => u.toLowerCase() === a);
}

/** Some member attribute holds user names, so users are read with uidAttribute. */
export function readsUidMembers(s: LdapSettings): boolean {
  return s.membership === 'member' && s.memberAttributes.some((a) => isUidMemberAttribute(s, a));
}

/** The attributes a user listing requests: what read.ts turns into a DirectoryUser. */
export function userAttributes(s: LdapSettings): string[] {
  return [
    ...new Set([
      s.idAttribute,
      s.emailAttribute,
      ...(s.emailFallbackAttribute ? [s.emailFallbackAttribute] : []),
      s.nameAttribute,
      'cn',
      ...(s.disabledByUserAccountControl ? ['userAccountControl'] : []),
      ...(readsUidMembers(s) ? [s.uidAttribute] : []),
      ...(s.membership === 'memberOf' ? [MEMBER_OF] : []),
      ...s.extraUserAttributes,
    ]),
  ];
}

/**
 * The attributes a group listing requests; `members` may carry `;range=` options. objectClass
 * tells a group that must have members (groupOfNames) from one that may be empty (posixGroup).
 */
export function groupAttributes(s: LdapSettings, members: readonly string[] = s.memberAttributes): string[] {
  const lists = s.membership === 'memberOf' ? [MEMBER_OF] : members;
  return [...new Set([s.idAttribute, s.groupNameAttribute, 'cn', 'objectClass', ...lists])];
}
