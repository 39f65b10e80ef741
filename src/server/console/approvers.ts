// Who someone is, by the ID token's verified claims, and whether they may approve (pure: tested on
// plain claim objects). Only the claims openid-client has verified (signature, issuer, audience,
// expiry, nonce) reach here.
import type { ConsoleSettings } from '../../config/types.js';
import type { Identity } from './session.js';

type Approvers = ConsoleSettings['approvers'];

/** Who is recorded as the approver: the email, else the subject at its issuer. */
export function actorOf(identity: Pick<Identity, 'sub' | 'email'>, issuer: string): string {
  if (identity.email !== undefined) return identity.email;
  return `sub:${identity.sub} at ${new URL(issuer).host}`;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v.trim() !== '' && v.length <= 512 ? v.trim() : undefined;

/**
 * The identity in a set of verified claims. An email the IdP marks unverified (email_verified
 * false: the person could have typed it) is left out; Entra sends no email_verified, and its email
 * claim is the directory's mail attribute. Groups: only those the approvers list names (by the
 * configured claim, a list of strings; Entra's overage marker `_claim_names` gives none).
 */
export function identityOf(claims: Record<string, unknown>, approvers: Approvers): Identity | undefined {
  const sub = str(claims.sub);
  if (sub === undefined) return undefined;
  const rawEmail = str(claims.email);
  const email =
    rawEmail !== undefined && claims.email_verified !== false ? rawEmail.toLowerCase() : undefined;
  const name = str(claims.name) ?? str(claims.preferred_username);
  const claimed = claims[approvers.groupsClaim];
  const groups = Array.isArray(claimed)
    ? [...new Set(claimed.filter((g): g is string => typeof g === 'string' && approvers.groups.includes(g)))]
    : [];
  return { sub, ...(email !== undefined ? { email } : {}), ...(name !== undefined ? { name } : {}), groups };
}

export function mayApprove(identity: Pick<Identity, 'email' | 'groups'>, approvers: Approvers): boolean {
  if (identity.email !== undefined && approvers.emails.includes(identity.email.toLowerCase())) return true;
  return identity.groups.some((g) => approvers.groups.includes(g));
}

/** What the page says the person is signed in as. */
export function displayName(identity: Pick<Identity, 'sub' | 'email' | 'name'>): string {
  if (identity.name !== undefined && identity.email !== undefined)
    return `${identity.name} <${identity.email}>`;
  return identity.email ?? identity.name ?? identity.sub;
}
