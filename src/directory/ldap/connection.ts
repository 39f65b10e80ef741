// One authenticated LDAP session: connect, StartTLS when configured, bind; and the same again when
// the connection was lost between operations.
//
// Reconnecting is done here rather than by ldapts' autoRebind, which does not replay a bind made
// after StartTLS: an ldap:// + StartTLS client that reconnected on its own would carry on over a
// plain, unauthenticated connection. session() therefore checks before every operation that the
// client is still connected and bound, and builds a fresh one through the full sequence if not.
import { isIP, type Socket } from 'node:net';
import { type ConnectionOptions, type TLSSocket, connect as tlsConnect } from 'node:tls';
import { Client, ResultCodeError } from 'ldapts';
import type { Logger } from 'pino';
import {
  describeLdapFailure,
  describeResultCode,
  describeTlsFailure,
  isTlsError,
  LdapBindError,
  LdapConnectError,
  LdapError,
  LdapTlsError,
} from './errors.js';
import type { LdapSettings } from './profiles.js';

export class LdapConnection {
  private client: Client | undefined;
  /** Clients whose TLS socket closed (see connect()). */
  private readonly closed = new WeakSet<Client>();
  /** Set once a reconnect failed: later operations fail at once instead of retrying per group. */
  private broken: LdapError | undefined;
  reconnects = 0;

  private constructor(
    private readonly s: LdapSettings,
    private readonly log: Logger,
  ) {}

  /** Connects and binds. Throws LdapConnectError, LdapTlsError or LdapBindError. */
  static async open(settings: LdapSettings, log: Logger): Promise<LdapConnection> {
    const conn = new LdapConnection(settings, log);
    conn.client = await conn.connect();
    return conn;
  }

  /** The bound client, reconnected first if the connection was lost. Throws LdapError. */
  async session(): Promise<Client> {
    if (this.broken) throw this.broken;
    const current = this.client;
    if (current?.isConnected && current.isBound && !this.closed.has(current)) return current;
    await this.discard();
    this.reconnects++;
    this.log.warn('LDAP connection lost; reconnecting and binding again');
    try {
      this.client = await this.connect();
      return this.client;
    } catch (err) {
      this.broken =
        err instanceof LdapError
          ? err
          : new LdapConnectError(`reconnect failed: ${describeLdapFailure(err)}`, this.s.origin, {
              cause: err,
            });
      throw this.broken;
    }
  }

  /**
   * After a transport failure (connection lost, timeout): the next session() reconnects rather
   * than trusting a client whose socket may not have reported its close yet.
   */
  invalidate(): void {
    if (this.client) this.closed.add(this.client);
  }

  async close(): Promise<void> {
    await this.discard();
  }

  /**
   * Stops the session at once (the process is shutting down): the operation in flight fails as its
   * socket is dropped, and every later session() throws without reconnecting.
   */
  abort(reason = 'aborted by the caller'): void {
    this.broken ??= new LdapConnectError(`LDAP read aborted: ${reason}`, this.s.origin);
    const c = this.client;
    if (!c) return;
    this.closed.add(c);
    dropSocket(c);
  }

  private async discard(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    if (!c?.isConnected) return;
    if (this.closed.has(c)) {
      // An unbind on a dead or distrusted socket may never be answered and would wait out the
      // whole timeout: drop the socket instead.
      dropSocket(c);
      return;
    }
    try {
      await c.unbind();
    } catch {
      // The connection is already gone; nothing to tell the server.
    }
  }

  private tlsOptions(): ConnectionOptions {
    const s = this.s;
    return {
      minVersion: 'TLSv1.2',
      rejectUnauthorized: !s.insecureSkipVerify,
      ...(s.ca === undefined ? {} : { ca: s.ca }),
      // For StartTLS the socket already exists: the host to verify has to be given explicitly.
      host: s.host,
      // SNI must be a name, never an IP address (RFC 6066).
      ...(isIP(s.host) === 0 ? { servername: s.host } : {}),
    };
  }

  private async connect(): Promise<Client> {
    const s = this.s;
    if (s.security !== 'none' && s.insecureSkipVerify) {
      this.log.warn(
        { insecureSkipVerify: true },
        `INSECURE: the TLS certificate of ${s.origin} is NOT verified (insecureSkipVerify: true); anyone on the path can read the bind password and the directory. Set caFile instead.`,
      );
    }
    if (s.security === 'none') {
      this.log.warn(
        `${s.origin} is plain LDAP without startTLS: the bind password and directory data cross the network unencrypted`,
      );
    }
    if (s.bindPassword === '') {
      // RFC 4513 §5.1.2: a simple bind with a DN and no password is an unauthenticated bind,
      // which many servers accept as "success" and then answer as anonymous.
      throw new LdapBindError(
        `LDAP bind as ${s.bindDN} refused: the password is empty (servers treat that as an anonymous bind)`,
        s.origin,
        undefined,
      );
    }
    const tls = this.tlsOptions();
    let client: Client | undefined;
    // ldapts 8.2 watches only the plain socket for 'close'. After StartTLS the client goes on
    // reporting isConnected when the server has gone, and the next request is written to a dead
    // socket and waits out the whole timeout. So the TLS socket is watched here: its close marks
    // the client lost for session(), and drops ldapts' socket so that a further request fails at
    // once ("Socket connection not established") instead of hanging.
    const secureConnection = ((...args: unknown[]): TLSSocket => {
      const socket = (tlsConnect as (...a: unknown[]) => TLSSocket)(...args);
      const markClosed = (): void => {
        if (!client) return;
        this.closed.add(client);
        dropSocket(client, socket);
      };
      socket.once('close', markClosed);
      // Under StartTLS the plain socket underneath may report its close first.
      const plain = args.find((a): a is { socket?: Socket } => typeof a === 'object' && a !== null)?.socket;
      plain?.once('close', markClosed);
      return socket;
    }) as typeof tlsConnect;
    client = new Client({
      url: s.url,
      timeout: s.timeoutMs,
      connectTimeout: s.connectTimeoutMs,
      // For ldap:// the options must stay off the constructor: ldapts would speak TLS from the
      // first byte whenever tlsOptions are present, which is not StartTLS.
      ...(s.security === 'ldaps' ? { tlsOptions: tls } : {}),
      createSecureConnection: secureConnection,
      autoRebind: s.security === 'ldaps',
    });
    try {
      if (s.security === 'starttls') {
        try {
          await client.startTLS(tls);
        } catch (err) {
          if (err instanceof ResultCodeError) {
            throw new LdapTlsError(
              `StartTLS refused by ${s.origin}: ${describeResultCode(err)}. Configure TLS on the server, or use ldaps://.`,
              s.origin,
              { cause: err },
            );
          }
          throw err;
        }
      }
      try {
        await client.bind(s.bindDN, s.bindPassword);
      } catch (err) {
        if (err instanceof ResultCodeError) {
          const described = describeResultCode(err);
          throw new LdapBindError(
            `LDAP bind as ${s.bindDN} failed: ${described}${bindHint(err.code, described)}`,
            s.origin,
            err.code,
            { cause: err },
          );
        }
        throw err;
      }
      return client;
    } catch (err) {
      try {
        await client.unbind();
      } catch {
        // already closed
      }
      if (err instanceof LdapError) throw err;
      if (isTlsError(err))
        throw new LdapTlsError(describeTlsFailure(err, s.origin, s.caFile), s.origin, { cause: err });
      const reason = describeLdapFailure(err, s.timeoutMs);
      // A TLS port spoken to in plain LDAP (or the reverse) just drops the connection.
      const hint = /connection lost|ECONNRESET/.test(reason)
        ? s.security === 'ldaps'
          ? ' (is this a plain LDAP port? then use ldap:// with startTLS: true)'
          : ' (is this an LDAPS port? then use ldaps://)'
        : '';
      throw new LdapConnectError(`cannot connect to ${s.origin}: ${reason}${hint}`, s.origin, { cause: err });
    }
  }
}

/**
 * Closes ldapts' socket through its own (private) teardown, so the client also stops reporting
 * isConnected. `only`: do it only while that socket is still the client's current one.
 */
function dropSocket(client: Client, only?: unknown): void {
  const internals = client as unknown as { socket?: unknown; _destroySocket?: (s: unknown) => void };
  if (typeof internals._destroySocket !== 'function' || internals.socket === undefined) return;
  if (only !== undefined && internals.socket !== only) return;
  internals._destroySocket(internals.socket);
}

function bindHint(code: number, described: string): string {
  if (code === 8 || code === 13) {
    return '. The server wants an encrypted connection: use ldaps:// or startTLS: true.';
  }
  // AD's sub-code already says what is wrong when it is not the name or the password.
  const adReason = /\(AD data (\w+)\)/.exec(described)?.[1];
  if (code === 49 && (adReason === undefined || adReason === '52e' || adReason === '525')) {
    return '. Check bindDN and the password (bindPassword or bindPasswordFile).';
  }
  return '';
}
