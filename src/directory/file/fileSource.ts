// The `file` source: a JSON directory snapshot. The demo and the tests use it, and it is the
// simplest way to try idsync against a directory exported by another tool.
import { z } from 'zod';
import {
  decodeUtf8,
  FileReadError,
  JsonSyntaxError,
  MiB,
  parseJson,
  readBounded,
} from '../../config/fileRead.js';
import { normalizeDirectoryId } from '../ids.js';
import type { DirectoryGroup, DirectorySnapshot, DirectorySource, DirectoryWarning } from '../types.js';

const FileUser = z.object({
  id: z.string().min(1),
  email: z.string().nullable().optional(),
  name: z.string().optional(),
  enabled: z.boolean().optional().default(true),
  attrs: z.record(z.string(), z.union([z.string(), z.array(z.string())])).optional(),
});

const FileGroup = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  dn: z.string().optional(),
  /** Ids of users and of nested groups. */
  members: z.array(z.string()).default([]),
});

export const DirectoryFile = z.object({
  users: z.array(FileUser),
  groups: z.array(FileGroup),
  /** Lets a file stand for a read that failed part way (tests of the incomplete-read rule). */
  complete: z.boolean().optional().default(true),
  incompleteReasons: z.array(z.string()).optional().default([]),
});
export type DirectoryFile = z.input<typeof DirectoryFile>;

/**
 * The file is read whole, then parsed: beyond this it is no snapshot idsync can hold in memory
 * (V8 strings end just under 512 MiB, and the parsed objects take several times the text).
 */
export const MAX_DIRECTORY_FILE_BYTES = 256 * MiB;

export class DirectoryFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.join('; ')}`);
    this.name = 'DirectoryFileError';
  }
}

export function fileSource(path: string): DirectorySource {
  return {
    async read() {
      let bytes: Buffer;
      try {
        // A FIFO or a device would hang the read or never end it.
        bytes = await readBounded(path, { maxBytes: MAX_DIRECTORY_FILE_BYTES, regularOnly: true });
      } catch (err) {
        if (!(err instanceof FileReadError)) throw err;
        throw new DirectoryFileError(path, [
          `cannot read: ${err.code === 'fs' ? (err.errno ?? err.reason) : err.reason}`,
        ]);
      }
      // Messages give positions, never text: the path may name a secret by mistake.
      const decoded = decodeUtf8(bytes);
      if (!decoded.ok) {
        const { line, column } = decoded.position;
        throw new DirectoryFileError(path, [`line ${line}, column ${column}: ${decoded.reason}`]);
      }
      let json: unknown;
      try {
        json = parseJson(decoded.text);
      } catch (err) {
        if (!(err instanceof JsonSyntaxError)) throw err;
        throw new DirectoryFileError(path, [err.message]);
      }
      return snapshotFromFile(json, `file:${path}`, path);
    },
  };
}

/** Validates a parsed file and resolves member ids; unresolvable ids become warnings. */
export function snapshotFromFile(json: unknown, source: string, file = source): DirectorySnapshot {
  const parsed = DirectoryFile.safeParse(json);
  if (!parsed.success) {
    throw new DirectoryFileError(
      file,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  // Ids in their canonical form (ids.ts) from here on: a file exported by a Windows tool writes
  // GUIDs upper case or in braces, and the same GUID must stay the same user or group.
  const data = {
    ...parsed.data,
    users: parsed.data.users.map((u) => ({ ...u, id: normalizeDirectoryId(u.id) })),
    groups: parsed.data.groups.map((g) => ({
      ...g,
      id: normalizeDirectoryId(g.id),
      members: g.members.map(normalizeDirectoryId),
    })),
  };
  const problems: string[] = [];
  const userIds = new Set<string>();
  data.users.forEach((u, i) => {
    if (userIds.has(u.id)) problems.push(`users.${i}.id: duplicate id ${JSON.stringify(u.id)}`);
    userIds.add(u.id);
  });
  const groupIds = new Set<string>();
  data.groups.forEach((g, i) => {
    if (groupIds.has(g.id) || userIds.has(g.id))
      problems.push(`groups.${i}.id: duplicate id ${JSON.stringify(g.id)}`);
    groupIds.add(g.id);
  });
  if (problems.length > 0) throw new DirectoryFileError(file, problems);

  const warnings: DirectoryWarning[] = [];
  const groups: DirectoryGroup[] = data.groups.map((g) => {
    const memberUserIds: string[] = [];
    const memberGroupIds: string[] = [];
    for (const m of g.members) {
      if (userIds.has(m)) memberUserIds.push(m);
      else if (groupIds.has(m)) memberGroupIds.push(m);
      else {
        warnings.push({
          code: 'unresolved-member',
          message: `group ${g.name} lists member ${JSON.stringify(m)}, which is neither a user nor a group; ignored`,
          subject: g.name,
        });
      }
    }
    return { id: g.id, name: g.name, ...(g.dn ? { dn: g.dn } : {}), memberUserIds, memberGroupIds };
  });
  return {
    source,
    readAt: new Date().toISOString(),
    users: data.users.map((u, i) => ({
      id: u.id,
      email: u.email ?? null,
      name: u.name ?? u.email ?? u.id,
      enabled: u.enabled,
      ref: `users[${i}]`,
      ...(u.attrs ? { attrs: u.attrs } : {}),
    })),
    groups,
    complete: data.complete,
    incompleteReasons: data.incompleteReasons,
    warnings,
  };
}
