// A Graph user as the core sees it, shared by the full read and the delta source so both apply the
// same rules. Email: emailAttribute (default mail), else emailFallbackAttribute (default
// userPrincipalName), as the LDAP source does with its attributes; but a guest's UPN
// (alice_gmail.com#EXT#@corp.onmicrosoft.com) is an address nobody receives mail at and Devin's SSO
// never sends, so a value holding #EXT# is never taken as an email, whichever property it came from.
// The core then says "no email address" (or "not a valid email address") for that user, as it does
// for LDAP: those warnings are the core's, not repeated here.
// Disabled: accountEnabled false, and also when it is missing (not readable: fail closed, as the
// LDAP source does with an unreadable userAccountControl).
import { z } from 'zod';
import type { EntraSourceConfig } from '../../config/types.js';
import { normalizeDirectoryId } from '../ids.js';
import type { DirectoryUser, DirectoryWarning } from '../types.js';

export const GRAPH_USER_BASE_PROPERTIES: readonly string[] = [
  'id',
  'mail',
  'userPrincipalName',
  'displayName',
  'accountEnabled',
];

/** What a user object must have; every other selected property is kept as it came. */
export const GraphUserSchema = z
  .object({
    id: z.string().min(1),
    displayName: z.string().nullish(),
    mail: z.string().nullish(),
    userPrincipalName: z.string().nullish(),
    accountEnabled: z.boolean().nullish(),
  })
  .catchall(z.unknown());

export type GraphUser = z.infer<typeof GraphUserSchema>;

type UserConfig = Pick<
  EntraSourceConfig,
  'emailAttribute' | 'emailFallbackAttribute' | 'extraUserAttributes'
>;

/** The $select list: the base properties, the email properties and the extra ones, each once. */
export function userSelect(config: UserConfig): string {
  return [
    ...new Set([
      ...GRAPH_USER_BASE_PROPERTIES,
      config.emailAttribute,
      config.emailFallbackAttribute ?? 'userPrincipalName',
      ...(config.extraUserAttributes ?? []),
    ]),
  ].join(',');
}

/** A guest's UPN carries #EXT# (Graph prints it upper case; compare without case anyway). */
export function isGuestUpn(value: string): boolean {
  return /#ext#/i.test(value);
}

/** The property's first non-blank string (otherMails and proxyAddresses are lists). */
function firstString(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (Array.isArray(value)) {
    for (const v of value) {
      const s = firstString(v);
      if (s !== undefined) return s;
    }
  }
  return undefined;
}

/** A usable email candidate from one property: not blank, not a guest UPN, and `SMTP:` stripped. */
function emailFrom(raw: GraphUser, property: string): string | undefined {
  const value = firstString(raw[property]);
  if (value === undefined || isGuestUpn(value)) return undefined;
  // proxyAddresses hold `SMTP:alice@corp.example` (primary) and `smtp:` (aliases).
  return value.replace(/^smtp:/i, '');
}

/** attrs values are strings: numbers and booleans printed, objects as JSON, null left out. */
function attrValue(value: unknown): string | string[] | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const items = value.map(attrValue).filter((v): v is string => typeof v === 'string');
    return items.length === 1 ? items[0] : items;
  }
  return JSON.stringify(value);
}

export function toDirectoryUser(
  raw: GraphUser,
  config: UserConfig,
): { user: DirectoryUser; warnings: DirectoryWarning[] } {
  const warnings: DirectoryWarning[] = [];
  const email =
    emailFrom(raw, config.emailAttribute) ??
    emailFrom(raw, config.emailFallbackAttribute ?? 'userPrincipalName') ??
    null;
  const upn = firstString(raw.userPrincipalName);
  const id = normalizeDirectoryId(raw.id);
  const user: DirectoryUser = {
    id,
    email,
    name: firstString(raw.displayName) ?? email ?? upn ?? id,
    enabled: raw.accountEnabled === true,
    ref: upn ?? id,
  };
  const extra = config.extraUserAttributes ?? [];
  if (extra.length > 0) {
    const attrs: Record<string, string | string[]> = {};
    for (const a of extra) {
      const v = attrValue(raw[a]);
      if (v !== undefined && !(Array.isArray(v) && v.length === 0)) attrs[a] = v;
    }
    user.attrs = attrs;
  }
  return { user, warnings };
}
