// The daemon's copy of Devin in Redis, shared by every replica: the last full read, patched by
// idsync's own writes and by each incremental run's fresh reads, with the last run's desired-state
// digests and the subjects it is not sure of. One hash: `meta` (small, read first to decide full or
// incremental) and `copy` (gzipped compact JSON, read only for an incremental run).
//
// Whatever cannot be read back exactly (another version's shape, a truncated value) is no copy at
// all: the run reads Devin in full. Nothing here decides a change; it only stores.
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { DesiredDigests, Subjects } from '../incremental/digest.js';
import type { DevinSnapshot, DevinUser } from '../model/devin.js';

const gzip = promisify<Buffer, { level: number }, Buffer>(gzipCb);
const gunzip = promisify(gunzipCb);

const VERSION = 1;

export interface CopyMeta {
  /** The Devin account the copy is of (base URL and API prefix). */
  account: string;
  /** Fingerprint of the sync policy the digests were made under. */
  policy: string;
  fullReadAt: string;
  savedAt: string;
  users: number;
}

export interface DevinCopy {
  meta: CopyMeta;
  snapshot: DevinSnapshot;
  digests: DesiredDigests;
  dirty: Subjects;
}

const Meta = z.object({
  v: z.literal(VERSION),
  account: z.string(),
  policy: z.string(),
  fullReadAt: z.string(),
  savedAt: z.string(),
  users: z.number().int().nonnegative(),
});

const str = z.string();
const nstr = z.string().nullable();
/** Compact: tuples instead of objects, flat key/value arrays instead of maps. */
const Compact = z.object({
  v: z.literal(VERSION),
  readAt: str,
  orgs: z.array(z.tuple([str, str])),
  roles: z.array(
    z.object({
      id: str,
      name: str,
      type: z.enum(['enterprise', 'org']),
      permissions: z.array(str).optional(),
    }),
  ),
  registered: z.array(str),
  groupRoles: z.array(z.tuple([str, nstr, str])),
  /** [id, email, name, enterpriseRoleId, org, role, org, role, …] */
  users: z.array(z.array(nstr).min(4)),
  dirtyUsers: z.array(str),
  dirtyGroups: z.array(str),
  /** [key, digest, key, digest, …] */
  digestUsers: z.array(str),
  digestGroups: z.array(str),
});
type Compact = z.infer<typeof Compact>;

export class DevinCopyFormatError extends Error {
  override readonly name = 'DevinCopyFormatError';
}

function flatten(map: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of map) out.push(k, v);
  return out;
}

function unflatten(flat: string[]): Map<string, string> {
  if (flat.length % 2 !== 0) throw new DevinCopyFormatError('a digest list has an odd length');
  const map = new Map<string, string>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i] as string, flat[i + 1] as string);
  return map;
}

export function toCompact(copy: Omit<DevinCopy, 'meta'>): Compact {
  const s = copy.snapshot;
  return {
    v: VERSION,
    readAt: s.readAt,
    orgs: s.orgs.map((o) => [o.id, o.name]),
    roles: s.roles.map((r) => ({ ...r })),
    registered: [...s.registeredGroups],
    groupRoles: s.groupRoles.map((g) => [g.group, g.orgId, g.roleId]),
    users: s.users.map((u) => {
      const row: Array<string | null> = [u.id, u.email, u.name, u.enterpriseRoleId];
      for (const [org, role] of Object.entries(u.orgRoles)) row.push(org, role);
      return row;
    }),
    dirtyUsers: [...copy.dirty.users],
    dirtyGroups: [...copy.dirty.groups],
    digestUsers: flatten(copy.digests.users),
    digestGroups: flatten(copy.digests.groups),
  };
}

export function fromCompact(c: Compact): Omit<DevinCopy, 'meta'> {
  const users: DevinUser[] = c.users.map((row, i) => {
    const [id, email, name, ent] = row;
    if (typeof id !== 'string' || row.length % 2 !== 0) {
      throw new DevinCopyFormatError(`users[${i}] is not [id, email, name, role, org, role…]`);
    }
    const orgRoles: Record<string, string> = {};
    for (let k = 4; k < row.length; k += 2) {
      const org = row[k];
      const role = row[k + 1];
      if (typeof org !== 'string' || typeof role !== 'string') {
        throw new DevinCopyFormatError(`users[${i}] has an org role that is not two strings`);
      }
      orgRoles[org] = role;
    }
    return { id, email: email ?? null, name: name ?? null, enterpriseRoleId: ent ?? null, orgRoles };
  });
  return {
    snapshot: {
      readAt: c.readAt,
      orgs: c.orgs.map(([id, name]) => ({ id, name })),
      roles: c.roles.map((r) => ({
        id: r.id,
        name: r.name,
        type: r.type,
        ...(r.permissions ? { permissions: r.permissions } : {}),
      })),
      registeredGroups: c.registered,
      groupRoles: c.groupRoles.map(([group, orgId, roleId]) => ({ group, orgId, roleId })),
      users,
    },
    dirty: { users: new Set(c.dirtyUsers), groups: new Set(c.dirtyGroups) },
    digests: { users: unflatten(c.digestUsers), groups: unflatten(c.digestGroups) },
  };
}

export class DevinCache {
  private readonly key: string;
  /**
   * The copy this process saved last: the next run (usually on the same replica) reuses it when
   * Redis still holds that very copy, instead of unpacking it again. Never mutated: every change
   * makes a new copy.
   */
  private last: DevinCopy | undefined;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.key = `${prefix}:devin-cache`;
  }

  /** The copy's metadata, or undefined when there is none usable. */
  async meta(): Promise<CopyMeta | undefined> {
    const text = await this.redis.hget(this.key, 'meta');
    if (text === null) return undefined;
    const parsed = Meta.safeParse(safeJson(text));
    if (!parsed.success) return undefined;
    const { v: _v, ...meta } = parsed.data;
    return meta;
  }

  /** The whole copy; throws DevinCopyFormatError when it cannot be read back exactly. */
  async load(): Promise<DevinCopy | undefined> {
    const last = this.last;
    if (last) {
      const meta = await this.meta();
      if (meta && meta.savedAt === last.meta.savedAt && meta.account === last.meta.account) return last;
      this.last = undefined;
    }
    const [metaText, blob] = await this.redis.hmgetBuffer(this.key, 'meta', 'copy');
    if (!metaText || !blob) return undefined;
    const meta = Meta.safeParse(safeJson(metaText.toString('utf8')));
    if (!meta.success) throw new DevinCopyFormatError('the copy metadata is not of this version');
    let json: unknown;
    try {
      json = JSON.parse((await gunzip(blob)).toString('utf8'));
    } catch (err) {
      throw new DevinCopyFormatError(`the copy is not gzipped JSON: ${(err as Error).message}`);
    }
    const compact = Compact.safeParse(json);
    if (!compact.success) throw new DevinCopyFormatError('the copy is not of this version');
    const { v: _v, ...m } = meta.data;
    return { meta: m, ...fromCompact(compact.data) };
  }

  async save(copy: DevinCopy): Promise<void> {
    // Level 1: a few times faster than the default at 100k users, for a blob about a third larger.
    const blob = await gzip(Buffer.from(JSON.stringify(toCompact(copy)), 'utf8'), { level: 1 });
    const meta = JSON.stringify({ v: VERSION, ...copy.meta, users: copy.snapshot.users.length });
    this.last = undefined;
    // One HSET: the metadata and the copy it describes change together.
    await this.redis.hset(this.key, { meta, copy: blob });
    this.last = copy;
  }

  async clear(): Promise<void> {
    this.last = undefined;
    await this.redis.del(this.key);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
