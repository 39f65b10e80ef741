// One idempotent handler per op kind (docs/design.md §7). The inline executor and the queue workers share
// them, so a job retried after a crash, or a plan applied twice, ends in the same Devin state
// without doing anything twice: a write whose outcome is unknown is followed by a re-read of the
// target, never by a blind re-send.
import { DevinBulkError, type DevinClient } from '../../devin/client.js';
import { DevinApiError, DevinNetworkError } from '../../devin/errors.js';
import { MAX_INVITE_EMAILS, type RoleAssignment, type User } from '../../devin/schemas.js';
import type {
  AddOrgUserOp,
  InviteUsersOp,
  Op,
  RegisterIdpGroupsOp,
  RemoveGroupEnterpriseRoleOp,
  RemoveGroupOrgRoleOp,
  RemoveOrgUserOp,
  RemoveUserOp,
  SetGroupEnterpriseRoleOp,
  SetGroupOrgRoleOp,
  SetOrgUserRoleOp,
  SetUserEnterpriseRoleOp,
  UnregisterIdpGroupOp,
} from '../../reconcile/plan.js';
import { emailKey } from '../../state/ledger.js';
import type { HandlerOutcome } from '../types.js';

export interface HandlerContext {
  client: DevinClient;
}

/**
 * Writes attempted per op before giving up. Only an unknown outcome (a dropped connection after
 * sending, a 5xx on a write) or a state that changed under us earns another round, and every round
 * starts from a fresh read, so this bounds work, not correctness.
 */
export const MAX_ROUNDS = 3;

/** A precondition the API cannot fix by retrying: the op fails with this message. */
export class OpPreconditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OpPreconditionError';
  }
}

/** An invite op that did not complete: which of its emails are not confirmed members. */
export class InviteIncompleteError extends Error {
  constructor(
    message: string,
    /** Emails that are not confirmed to hold the wanted enterprise role. */
    readonly notConfirmed: readonly string[],
    /** Emails confirmed to hold it: idsync invited (or found) them, so the ledger records them. */
    readonly confirmed: readonly string[],
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'InviteIncompleteError';
  }
}

export async function handleOp(op: Op, ctx: HandlerContext): Promise<HandlerOutcome> {
  switch (op.kind) {
    case 'adopt':
      // Ownership is the ledger's business: the executor records it once this resolves.
      return { status: 'applied', detail: 'ownership recorded; nothing written to Devin' };
    case 'registerIdpGroups':
      return registerIdpGroups(op, ctx);
    case 'setGroupEnterpriseRole':
    case 'setGroupOrgRole':
      return setGroupRole(op, ctx);
    case 'inviteUsers':
      return inviteUsers(op, ctx);
    case 'setUserEnterpriseRole':
      return setUserEnterpriseRole(op, ctx);
    case 'addOrgUser':
    case 'setOrgUserRole':
      return setOrgUserRole(op, ctx);
    case 'removeOrgUser':
      return removeOrgUser(op, ctx);
    case 'removeUser':
      return removeUser(op, ctx);
    case 'removeGroupOrgRole':
    case 'removeGroupEnterpriseRole':
      return removeGroupRole(op, ctx);
    case 'unregisterIdpGroup':
      return unregisterIdpGroup(op, ctx);
  }
}

// ---- failure classification ---------------------------------------------------------------------

/**
 * - `unknown`: the write may or may not have been applied (connection dropped after sending, a 5xx,
 *   a bulk call that failed part way): re-read, then do what is still missing;
 * - `conflict`: Devin refused because its state is not what the write assumed (409, 404): re-read,
 *   and act on what is there;
 * - `fatal`: anything else (auth, validation, retries exhausted): the op fails with it.
 */
type FailureKind = 'unknown' | 'conflict' | 'fatal';

function classify(err: unknown): FailureKind {
  if (err instanceof DevinBulkError) return 'unknown';
  if (err instanceof DevinNetworkError) return err.sent ? 'unknown' : 'fatal';
  if (err instanceof DevinApiError) {
    if (err.status === 409 || err.status === 404) return 'conflict';
    if (err.status >= 500) return 'unknown';
  }
  return 'fatal';
}

function isStatus(err: unknown, status: number): err is DevinApiError {
  return err instanceof DevinApiError && err.status === status;
}

/** The value, or undefined when Devin says the thing does not exist. */
async function unless404<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

// ---- the convergence loop -----------------------------------------------------------------------

interface Step {
  /** Also the identity of the write: the same refused write is never sent twice. */
  label: string;
  run: () => Promise<unknown>;
}

interface Converge<S> {
  /** The state as the plan found it; omitted = read before the first write. */
  initial?: { state: S };
  read: () => Promise<S>;
  holds: (s: S) => boolean;
  /** The write that moves `s` towards the target, or why none can. */
  next: (s: S) => Step | OpPreconditionError;
}

/**
 * Read → write → (on an unknown outcome or a conflict) re-read → write what is still missing. A
 * conflict that the re-read does not explain (the same write would be sent again) fails at once
 * with Devin's own message.
 */
async function converge<S>(c: Converge<S>): Promise<HandlerOutcome> {
  let state = c.initial ? c.initial.state : await c.read();
  let mayHaveWritten = false;
  let last: { label: string; err: unknown; kind: FailureKind } | undefined;
  const held = (): HandlerOutcome =>
    mayHaveWritten
      ? { status: 'applied', detail: 'confirmed by re-reading after an interrupted write' }
      : { status: 'already' };
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    if (c.holds(state)) return held();
    const step = c.next(state);
    if (step instanceof OpPreconditionError) throw last?.kind === 'conflict' ? last.err : step;
    if (last && last.kind === 'conflict' && last.label === step.label) throw last.err;
    try {
      await step.run();
      return { status: 'applied', detail: step.label };
    } catch (err) {
      const kind = classify(err);
      if (kind === 'fatal') throw err;
      if (kind === 'unknown') mayHaveWritten = true;
      last = { label: step.label, err, kind };
    }
    state = await c.read();
  }
  // The last write's outcome was unknown, and the read after it may show it landed.
  if (c.holds(state)) return held();
  throw notConverged(last?.err);
}

function notConverged(err: unknown): Error {
  const why = err instanceof Error ? err.message : String(err);
  return new Error(`not confirmed after ${MAX_ROUNDS} attempts; last error: ${why}`, { cause: err });
}

// ---- registry -----------------------------------------------------------------------------------

async function registerIdpGroups(
  op: RegisterIdpGroupsOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  // Devin ignores names already registered, so re-sending is safe and needs no re-read; what it
  // answers for existing names is undocumented, so 'already' cannot be told apart here.
  let last: unknown;
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    try {
      await client.registerIdpGroups(op.groups);
      return {
        status: 'applied',
        detail: `registered ${op.groups.length} group(s); existing names are ignored`,
      };
    } catch (err) {
      if (classify(err) !== 'unknown') throw err;
      last = err;
    }
  }
  throw notConverged(last);
}

async function unregisterIdpGroup(
  op: UnregisterIdpGroupOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  try {
    await client.unregisterIdpGroup(op.group);
    return { status: 'applied' };
  } catch (err) {
    if (isStatus(err, 404)) return { status: 'already', detail: `"${op.group}" is not registered` };
    throw err;
  }
}

// ---- group role mappings ------------------------------------------------------------------------

function roleIn(assignments: readonly RoleAssignment[], orgId: string | null): string | null {
  return assignments.find((a) => (a.org_id ?? null) === orgId)?.role.role_id ?? null;
}

/**
 * A group's role in one scope. A 404 on the re-read means "no mapping" (Devin may answer 404 for
 * a registered group with no mapping there, or for an unregistered one): null, not an error. A
 * write that then fails says why.
 */
async function mappedRole(read: Promise<{ role_assignments: RoleAssignment[] }>, orgId: string | null) {
  const group = await unless404(read);
  return group ? roleIn(group.role_assignments, orgId) : null;
}

function groupRoleApi(client: DevinClient, group: string, orgId: string | null) {
  return orgId === null
    ? {
        read: () => mappedRole(client.getEnterpriseGroupRole(group), null),
        assign: (roleId: string) => client.assignEnterpriseGroupRole(group, roleId),
        update: (roleId: string) => client.updateEnterpriseGroupRole(group, roleId),
        remove: () => client.removeEnterpriseGroupRole(group),
        where: 'enterprise',
      }
    : {
        read: () => mappedRole(client.getOrgGroupRole(orgId, group), orgId),
        assign: (roleId: string) => client.assignOrgGroupRole(orgId, group, roleId),
        update: (roleId: string) => client.updateOrgGroupRole(orgId, group, roleId),
        remove: () => client.removeOrgGroupRole(orgId, group),
        where: `org ${orgId}`,
      };
}

function setGroupRole(
  op: SetGroupEnterpriseRoleOp | SetGroupOrgRoleOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  const orgId = op.kind === 'setGroupOrgRole' ? op.org.id : null;
  const api = groupRoleApi(client, op.group, orgId);
  const wanted = op.role.id;
  return converge<string | null>({
    // A planned create goes straight to POST (a 409 says it exists); a planned change reads first,
    // so a re-run reports 'already' instead of rewriting the same role.
    ...(op.expected.role === null ? { initial: { state: null } } : {}),
    read: api.read,
    holds: (current) => current === wanted,
    next: (current) =>
      current === null
        ? { label: `assigned ${op.role.name} (${api.where})`, run: () => api.assign(wanted) }
        : { label: `changed ${current} → ${wanted} (${api.where})`, run: () => api.update(wanted) },
  });
}

async function removeGroupRole(
  op: RemoveGroupEnterpriseRoleOp | RemoveGroupOrgRoleOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  const orgId = op.kind === 'removeGroupOrgRole' ? op.org.id : null;
  const api = groupRoleApi(client, op.group, orgId);
  try {
    await api.remove();
    return { status: 'applied' };
  } catch (err) {
    if (isStatus(err, 404)) return { status: 'already', detail: `no ${api.where} mapping left` };
    if (isStatus(err, 409) && (await api.read()) === null) {
      return { status: 'already', detail: `no ${api.where} mapping left` };
    }
    throw err;
  }
}

// ---- enterprise users ---------------------------------------------------------------------------

/** What one round of invite POSTs did (see sendInvites). */
interface InviteRound {
  /** The users Devin answered with, from the batches it accepted. */
  answered: User[];
  /** Emails Devin refused on their own (a 422 for a batch of one) → Devin's message. */
  refused: Map<string, string>;
  /** The first failure that was not a 422: the round stopped there. */
  failure?: { batch: string; err: unknown; kind: FailureKind };
}

const batchKey = (emails: readonly string[]) => emails.map(emailKey).sort().join(',');

/**
 * POSTs the invites in batches of at most 100. A 422 means Devin refused something in the batch
 * (a bad address is refused for the whole batch, like a pydantic error), so the batch is split in
 * two and each half sent on its own. That goes on until the addresses it refuses stand alone, and
 * the rest go through. Any other failure ends the round, and so does a 422 whose field errors
 * name something other than the emails (the role, say), which no split can fix.
 * `conflictBefore`: a batch that got a conflict last round, which the re-read did not explain, is
 * not sent again.
 */
async function sendInvites(
  client: DevinClient,
  emails: readonly string[],
  roleId: string,
  conflictBefore: InviteRound['failure'],
): Promise<InviteRound> {
  const round: InviteRound = { answered: [], refused: new Map() };
  const send = async (batch: readonly string[]): Promise<void> => {
    if (round.failure || batch.length === 0) return;
    const key = batchKey(batch);
    if (conflictBefore?.kind === 'conflict' && conflictBefore.batch === key) {
      // The same refused batch would be refused again: report Devin's reason instead.
      round.failure = { ...conflictBefore, kind: 'fatal' };
      return;
    }
    try {
      round.answered.push(...(await client.inviteUsers(batch, roleId)));
    } catch (err) {
      if (isStatus(err, 422) && refusesAddresses(err)) {
        if (batch.length === 1) {
          round.refused.set(batch[0] as string, err.detail ?? err.message);
          return;
        }
        const mid = Math.ceil(batch.length / 2);
        await send(batch.slice(0, mid));
        await send(batch.slice(mid));
        return;
      }
      round.failure = { batch: key, err, kind: classify(err) };
    }
  };
  for (let i = 0; i < emails.length; i += MAX_INVITE_EMAILS)
    await send(emails.slice(i, i + MAX_INVITE_EMAILS));
  return round;
}

/**
 * Does this 422 refuse addresses? Yes when its field errors point at `emails`. Also yes when it
 * names no field: then only splitting the batch can tell.
 */
function refusesAddresses(err: DevinApiError): boolean {
  const locs: unknown[] = [
    ...(err.problem?.errors ?? []).map((e) => e.loc),
    ...(Array.isArray(err.legacy?.detail) ? err.legacy.detail.map((e) => e.loc) : []),
  ].filter((loc) => loc !== undefined);
  if (locs.length === 0) return true;
  return locs.some((loc) => Array.isArray(loc) && loc.includes('emails'));
}

async function inviteUsers(op: InviteUsersOp, { client }: HandlerContext): Promise<HandlerOutcome> {
  const wanted = op.role.id;
  let pending = uniqueEmails(op.emails);
  let invited = 0;
  let found = 0;
  const changed: string[] = [];
  let mayHaveWritten = false;
  let last: InviteRound['failure'];
  const refused = new Map<string, string>();

  const confirmed = new Set<string>();
  const incomplete = (err: unknown): InviteIncompleteError => {
    const open = op.emails.filter((e) => !confirmed.has(emailKey(e)));
    const why = err instanceof Error ? err.message : String(err);
    return new InviteIncompleteError(
      `${open.length} of ${op.emails.length} invite(s) not confirmed (${open.join(', ')}): ${why}`,
      open,
      op.emails.filter((e) => confirmed.has(emailKey(e))),
      { cause: err },
    );
  };

  // One round more than writes: the last one only re-reads, to confirm what the last write did.
  for (let round = 1; round <= MAX_ROUNDS + 1; round++) {
    if (round > 1) {
      // What did the failed call leave behind? Each email on its own: `?email=` is exact.
      const still: string[] = [];
      for (const email of pending) {
        let user: Awaited<ReturnType<DevinClient['findUserByEmail']>>;
        try {
          user = await client.findUserByEmail(email);
        } catch (err) {
          throw incomplete(err);
        }
        const current = user ? roleIn(user.role_assignments, null) : null;
        if (current === wanted) {
          found++;
          confirmed.add(emailKey(email));
        } else if (user && current !== null) {
          // Someone gave them another enterprise role since the plan was made (or Devin took the
          // invite of a member as a no-op): the plan's role wins.
          try {
            await client.updateUserRole(user.user_id, wanted);
          } catch (err) {
            throw incomplete(err);
          }
          changed.push(email);
          confirmed.add(emailKey(email));
        } else {
          still.push(email);
        }
      }
      pending = still;
    }
    if (pending.length === 0 || round > MAX_ROUNDS) break;
    const sent = await sendInvites(client, pending, wanted, last);
    for (const [email, why] of sent.refused) refused.set(email, why);
    // An accepted invite counts only for the users Devin answers with, holding the wanted role.
    // Devin may take the invite of someone who is already a member as a no-op that keeps their
    // role (the docs are silent). Anyone else is re-read next round.
    const answered = new Map(
      sent.answered.filter((u) => u.email !== null).map((u) => [emailKey(u.email as string), u]),
    );
    const still: string[] = [];
    for (const email of pending) {
      if (refused.has(email)) continue;
      const user = answered.get(emailKey(email));
      if (user && roleIn(user.role_assignments, null) === wanted) {
        invited++;
        confirmed.add(emailKey(email));
      } else still.push(email);
    }
    pending = still;
    if (sent.failure) {
      if (sent.failure.kind === 'fatal') throw incomplete(sent.failure.err);
      if (sent.failure.kind === 'unknown') mayHaveWritten = true;
      last = sent.failure;
    } else if (pending.length > 0) {
      // Accepted, but not shown holding the role: what Devin did is confirmed by the re-read.
      mayHaveWritten = true;
      last = undefined;
    }
  }
  if (pending.length > 0) throw incomplete(notConverged(last?.err));
  if (refused.size > 0) {
    const reasons = [...refused].map(([email, why]) => `${email}: ${why}`).join('; ');
    throw incomplete(new Error(`Devin refused ${refused.size} address(es) (422): ${reasons}`));
  }

  const parts: string[] = [];
  if (invited > 0) parts.push(`invited ${invited} as ${op.role.name}`);
  if (found > 0)
    parts.push(`${found} already held ${op.role.name}${mayHaveWritten ? ' (confirmed by re-read)' : ''}`);
  if (changed.length > 0) parts.push(`changed ${changed.join(', ')} to ${op.role.name}`);
  const wrote = invited > 0 || changed.length > 0 || mayHaveWritten;
  return { status: wrote ? 'applied' : 'already', detail: parts.join('; ') };
}

function uniqueEmails(emails: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of emails) {
    if (seen.has(emailKey(e))) continue;
    seen.add(emailKey(e));
    out.push(e);
  }
  return out;
}

async function directEnterpriseRole(
  client: DevinClient,
  userId: string,
): Promise<{ member: false } | { member: true; role: string | null; orgs: number }> {
  const user = await unless404(client.getUser(userId));
  if (!user) return { member: false };
  return {
    member: true,
    role: roleIn(user.role_assignments, null),
    orgs: user.role_assignments.filter((a) => (a.org_id ?? null) !== null).length,
  };
}

function setUserEnterpriseRole(
  op: SetUserEnterpriseRoleOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  const wanted = op.role.id;
  return converge({
    read: () => directEnterpriseRole(client, op.userId),
    holds: (s) => s.member && s.role === wanted,
    next: (s) => {
      if (!s.member)
        return new OpPreconditionError(`${op.email} (${op.userId}) is no longer in the enterprise`);
      if (s.role === null) {
        return new OpPreconditionError(
          `${op.email} has no direct enterprise role any more (only IdP-derived ones); it cannot be changed`,
        );
      }
      return {
        label: `changed ${s.role} → ${wanted}`,
        run: () => client.updateUserRole(op.userId, wanted),
      };
    },
  });
}

async function removeUser(op: RemoveUserOp, { client }: HandlerContext): Promise<HandlerOutcome> {
  try {
    await client.removeUser(op.userId);
    return { status: 'applied' };
  } catch (err) {
    if (isStatus(err, 404)) return { status: 'already', detail: `${op.email} is not in the enterprise` };
    if (isStatus(err, 409)) {
      // 409 also means "no direct role left" (an IdP-only member): that is what removal wanted.
      const s = await directEnterpriseRole(client, op.userId);
      if (!s.member || (s.role === null && s.orgs === 0)) {
        return { status: 'already', detail: `${op.email} has no direct access left` };
      }
    }
    throw err;
  }
}

// ---- organization users -------------------------------------------------------------------------

/**
 * The user's direct role in one org, read as Cognition's provider reads it: GET the enterprise
 * user by id, whose role_assignments carry every direct org role with its org_id. That is one
 * authoritative answer by id, where the per-org list filtered by email can miss a user whose
 * email changed. A 404 means the user is not in the enterprise, so no role here either.
 */
async function directOrgRole(client: DevinClient, orgId: string, userId: string): Promise<string | null> {
  const user = await unless404(client.getUser(userId));
  return user ? roleIn(user.role_assignments, orgId) : null;
}

async function setOrgUserRole(
  op: AddOrgUserOp | SetOrgUserRoleOp,
  { client }: HandlerContext,
): Promise<HandlerOutcome> {
  let userId = op.userId;
  if (userId === null) {
    // Invited earlier in this plan: the id exists only now.
    const user = await client.findUserByEmail(op.email);
    if (!user) {
      throw new OpPreconditionError(
        `${op.email} is not a direct member of the enterprise, so it cannot be added to ${op.org.name}; was its invite applied?`,
      );
    }
    userId = user.user_id;
  }
  const id = userId;
  const org = op.org;
  const wanted = op.role.id;
  return converge<string | null>({
    ...(op.kind === 'addOrgUser' ? { initial: { state: null } } : {}),
    read: () => directOrgRole(client, org.id, id),
    holds: (current) => current === wanted,
    next: (current) =>
      current === null
        ? {
            label: `added to ${org.name} as ${op.role.name}`,
            run: () => client.addOrgUser(org.id, id, wanted),
          }
        : {
            label: `changed ${org.name} role ${current} → ${wanted}`,
            run: () => client.updateOrgUserRole(org.id, id, wanted),
          },
  });
}

async function removeOrgUser(op: RemoveOrgUserOp, { client }: HandlerContext): Promise<HandlerOutcome> {
  try {
    await client.removeOrgUser(op.org.id, op.userId);
    return { status: 'applied' };
  } catch (err) {
    const gone = { status: 'already', detail: `${op.email} has no direct role in ${op.org.name}` } as const;
    // 404 is also "no such organization", and 409 "the role left is IdP-derived" (not idsync's to
    // remove): only a re-read that finds no direct membership makes either a success.
    if (isStatus(err, 404) || isStatus(err, 409)) {
      if ((await directOrgRole(client, op.org.id, op.userId)) === null) return gone;
    }
    throw err;
  }
}
