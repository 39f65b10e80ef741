// What went wrong talking to Entra ID, in words an operator can act on. Sign-in failures are
// EntraAuthError (with the AADSTS code and what to change), Graph answers are GraphError (with the
// permission a 403 points at), a stopped read is EntraAbortedError. None of them carries the client
// secret, the private key or a token: no message is built from them, and `scrub` removes a secret
// should a server ever echo it.
import { isCertificateError, isTlsError } from '../ldap/errors.js';

export class EntraError extends Error {
  override name = 'EntraError';
}

export type EntraAuthErrorKind =
  /** The credential in the config cannot be used (a PEM that does not parse, a key of another certificate). */
  | 'credential'
  /** The sign-in endpoint refused it (AADSTS…). */
  | 'refused'
  /** The sign-in endpoint could not be reached or did not answer usefully (TLS, timeout, 5xx). */
  | 'unavailable';

export class EntraAuthError extends EntraError {
  override name = 'EntraAuthError';
  constructor(
    message: string,
    readonly details: {
      kind: EntraAuthErrorKind;
      /** `https://login.microsoftonline.com/<tenant>`. */
      authority: string;
      /** The OAuth error (`invalid_client`), when the endpoint answered. */
      error?: string;
      /** `AADSTS7000215`, when the answer carried one. */
      aadsts?: string;
      /** What to change, in words. */
      hint?: string;
      /** The config key most likely at fault, for `idsync validate`. */
      key?: string;
      /** When the endpoint asked to be left alone until (epoch ms). */
      retryAt?: number;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class GraphError extends EntraError {
  override name = 'GraphError';
  readonly status: number;
  readonly code?: string;
  /** The URL path asked for (no query: skip tokens are noise). */
  readonly path: string;
  readonly requestId?: string;
  /** e.g. 'GroupMember.Read.All' when a 403 tells which permission is missing. */
  readonly permissionHint?: string;
  constructor(
    message: string,
    details: { status: number; code?: string; path: string; requestId?: string; permissionHint?: string },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = details.status;
    this.path = details.path;
    if (details.code !== undefined) this.code = details.code;
    if (details.requestId !== undefined) this.requestId = details.requestId;
    if (details.permissionHint !== undefined) this.permissionHint = details.permissionHint;
  }
}

/** The read was stopped by the caller (a shutdown): not a failure of Entra's. */
export class EntraAbortedError extends EntraError {
  override name = 'EntraAbortedError';
}

/** Replaces every occurrence of each secret (longer than 3 characters) with [REDACTED]. */
export function scrub(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) {
    if (s !== undefined && s.length > 3) out = out.split(s).join('[REDACTED]');
  }
  return out;
}

const NET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed by the server',
};

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * A transport failure (no HTTP answer) as a reason to follow "… failed: "; TLS failures say which
 * CAs the certificate was checked against.
 */
export function describeTransport(err: unknown, caFile: string | undefined): string {
  const code = errCode(err);
  const message = err instanceof Error ? err.message : String(err);
  if (isCertificateError(err) || (code !== undefined && isTlsError(err))) {
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return `the TLS handshake failed: the server's certificate does not name this host (${message})`;
    }
    const against = caFile
      ? `Node's public CAs and the CA in caFile ${caFile}`
      : "Node's public CAs (no caFile is set)";
    return `the TLS handshake failed: ${message}${code && !message.includes(code) ? ` (${code})` : ''}. The certificate was checked against ${against}; a TLS-inspecting proxy or a private endpoint needs its CA in caFile`;
  }
  if (code && NET_REASONS[code]) return `${NET_REASONS[code]} (${code})`;
  return message.split('\n')[0] ?? message;
}

/** Transport errors worth another try (the TLS ones never get better by retrying). */
export function isTransientTransport(err: unknown): boolean {
  if (isTlsError(err)) return false;
  const code = errCode(err);
  return code !== undefined && (code in NET_REASONS || code === 'ECONNABORTED');
}
