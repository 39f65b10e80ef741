// The one place that turns the config's `redis` block into ioredis connections (issue 10): one
// server (`url`, `redis://` or `rediss://`) or Redis Sentinel (`sentinels` + `masterName`), with an
// ACL user, a password read from passwordFile and a CA for TLS. Every connection of idsync comes from
// here: the workers' (shared with BullMQ, which duplicates it for its blocking commands, keeping
// these options), the HTTP edge's and the CLI's; each `kind` adds how it behaves while Redis is away.
//
// With Sentinel, ioredis asks the sentinels for the master, connects to it, and on a lost
// connection asks again: a failover is followed by reconnecting (the failover detector also reacts
// to the sentinels' +switch-master at once). A command that reaches a demoted master gets READONLY:
// the connection is dropped and re-resolved through the sentinels.
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/types.js';

/**
 * - `workers`: commands wait for Redis (maxRetriesPerRequest null, which BullMQ workers require),
 *   so a run rides out a restart or a failover; with Sentinel a READONLY command is sent again on
 *   the new master.
 * - `edge`: fails fast, nothing queued or replayed (src/daemon/edge.ts adds its own timeouts).
 * - `cli`: one attempt, no reconnect.
 */
export type RedisConnectionKind = 'workers' | 'edge' | 'cli';

const isReadOnly = (err: Error): boolean => err.message.startsWith('READONLY');

/** Where idsync connects, for logs and messages: never a password. */
export function describeRedis(s: RedisSettings): string {
  const who = s.username !== undefined ? ` as ${s.username}` : '';
  const tls = s.tls ? ', TLS' : '';
  if (s.sentinels) {
    const list = s.sentinels.map((x) =>
      x.host.includes(':') ? `[${x.host}]:${x.port}` : `${x.host}:${x.port}`,
    );
    return `master ${s.masterName ?? '?'} of sentinels ${list.join(',')}${who}${tls}`;
  }
  if (s.url === undefined || !URL.canParse(s.url)) return `redis${who}${tls}`;
  const u = new URL(s.url);
  return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}${who}`;
}

/** The connection options of the config, without the per-kind behaviour. */
export function redisConnectionOptions(s: RedisSettings): RedisOptions {
  const tls = s.tls ? (s.ca !== undefined ? { ca: s.ca } : {}) : undefined;
  const auth = {
    ...(s.username !== undefined ? { username: s.username } : {}),
    ...(s.password !== undefined ? { password: s.password } : {}),
  };
  if (s.sentinels) {
    return {
      sentinels: s.sentinels.map((x) => ({ host: x.host, port: x.port })),
      name: s.masterName ?? '',
      role: 'master',
      ...auth,
      ...(s.sentinelPassword !== undefined ? { sentinelPassword: s.sentinelPassword } : {}),
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    };
  }
  // Parsed here rather than handed to ioredis as a string: its URL values would win over the
  // options, and the schema already refuses a URL credential next to username / passwordFile.
  const u = new URL(s.url ?? 'redis://127.0.0.1:6379');
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined;
  const urlUser = u.username !== '' ? decodeURIComponent(u.username) : undefined;
  const urlPassword = u.password !== '' ? decodeURIComponent(u.password) : undefined;
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port !== '' ? Number(u.port) : 6379,
    ...(db !== undefined && Number.isInteger(db) ? { db } : {}),
    ...(urlUser !== undefined ? { username: urlUser } : {}),
    ...(urlPassword !== undefined ? { password: urlPassword } : {}),
    ...auth,
    ...(tls ? { tls } : {}),
  };
}

/** The options of one kind of connection. */
export function redisOptions(s: RedisSettings, kind: RedisConnectionKind): RedisOptions {
  const base = redisConnectionOptions(s);
  const sentinel = s.sentinels !== undefined;
  switch (kind) {
    case 'workers':
      return {
        ...base,
        maxRetriesPerRequest: null,
        // READONLY: this is a replica now (a failover while connected). Reconnect through the
        // sentinels and send the command again: a refused write was not applied. Not with a
        // plain url: that would reconnect to the same replica for ever.
        ...(sentinel
          ? { failoverDetector: true, reconnectOnError: (err: Error) => (isReadOnly(err) ? 2 : false) }
          : {}),
      };
    case 'edge':
      return {
        ...base,
        enableOfflineQueue: false,
        // In-flight commands of a dropped connection fail rather than being sent again on reconnect.
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        connectTimeout: 5_000,
        // Reconnect to the new master, without sending the refused command again.
        ...(sentinel
          ? { failoverDetector: true, reconnectOnError: (err: Error) => (isReadOnly(err) ? 1 : false) }
          : {}),
      };
    case 'cli':
      return {
        ...base,
        maxRetriesPerRequest: 1,
        connectTimeout: 5_000,
        retryStrategy: () => null,
        ...(sentinel ? { sentinelRetryStrategy: () => null } : {}),
      };
  }
}

/** A connection of the given kind; `extra` adds or overrides options (e.g. commandTimeout). */
export function createRedis(s: RedisSettings, kind: RedisConnectionKind, extra: RedisOptions = {}): Redis {
  return new Redis({ ...redisOptions(s, kind), ...extra });
}
