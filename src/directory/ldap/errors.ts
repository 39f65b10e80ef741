// What went wrong talking to the directory, in words an operator can act on. Failures before
// anything was read (connect, TLS, bind, a base DN that does not exist) are thrown as LdapError;
// failures part way (a page, a range slice, a dropped connection) become incomplete-read reasons
// through describeLdapFailure. Neither ever carries the bind password: none of these messages is
// built from it, and server diagnostics do not echo it.
import { ResultCodeError } from 'ldapts';

export class LdapError extends Error {
  constructor(
    message: string,
    /** The server, as `ldaps://host:port`. */
    readonly server: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'LdapError';
  }
}

/** The TCP connection could not be made (refused, unknown host, timeout). */
export class LdapConnectError extends LdapError {
  override name = 'LdapConnectError';
}

/** The TLS handshake failed: usually a certificate that does not verify against the CA. */
export class LdapTlsError extends LdapError {
  override name = 'LdapTlsError';
}

export class LdapBindError extends LdapError {
  override name = 'LdapBindError';
  constructor(
    message: string,
    server: string,
    readonly resultCode: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, server, options);
  }
}

/** The server says the configuration is wrong (a base DN that does not exist, a filter it rejects). */
export class LdapConfigError extends LdapError {
  override name = 'LdapConfigError';
}

const RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'operations error',
  2: 'protocol error',
  3: 'time limit exceeded',
  4: 'size limit exceeded',
  7: 'authentication method not supported',
  8: 'stronger authentication required',
  11: 'administrative limit exceeded',
  12: 'unavailable critical extension',
  13: 'confidentiality required',
  16: 'no such attribute',
  17: 'undefined attribute type',
  18: 'inappropriate matching',
  21: 'invalid attribute syntax',
  32: 'no such object',
  34: 'invalid DN syntax',
  48: 'inappropriate authentication',
  49: 'invalid credentials',
  50: 'insufficient access rights',
  51: 'busy',
  52: 'unavailable',
  53: 'unwilling to perform',
  54: 'loop detected',
  80: 'other',
};

export function resultCodeName(code: number): string {
  return RESULT_NAMES[code] ?? 'error';
}

// AD puts the real reason of a failed bind in the diagnostic: "... AcceptSecurityContext error, data 52e, v4563".
const AD_BIND_DATA: Readonly<Record<string, string>> = {
  '525': 'user not found',
  '52e': 'wrong password',
  '530': 'not permitted to log on at this time',
  '531': 'not permitted to log on at this workstation',
  '532': 'password expired',
  '533': 'account disabled',
  '568': 'too many security IDs',
  '701': 'account expired',
  '773': 'user must reset password',
  '775': 'account locked out',
};

/** The server's own diagnostic text, when it sent more than ldapts' stock sentence. */
function diagnostic(err: ResultCodeError): string | undefined {
  const text = err.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
  if (text === '') return undefined;
  const Ctor = err.constructor as new () => ResultCodeError;
  let stock: string | undefined;
  try {
    stock = new Ctor().message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim();
  } catch {
    stock = undefined;
  }
  return text === stock ? undefined : text.slice(0, 300);
}

/** `invalid credentials (49)`, plus the AD sub-reason when there is one. */
export function describeResultCode(err: ResultCodeError): string {
  const base = `${resultCodeName(err.code)} (${err.code})`;
  const diag = diagnostic(err);
  const ad = diag ? /\bdata ([0-9a-f]{3,4})\b/i.exec(diag)?.[1]?.toLowerCase() : undefined;
  if (ad && AD_BIND_DATA[ad]) return `${base}: ${AD_BIND_DATA[ad]} (AD data ${ad})`;
  return diag ? `${base}: ${diag}` : base;
}

const TLS_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isCertificateError(err: unknown): boolean {
  const code = errCode(err);
  return code !== undefined && TLS_CODES.has(code);
}

export function isTlsError(err: unknown): boolean {
  const code = errCode(err);
  if (code === undefined) return false;
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** The TLS failure as a sentence that says what to change. */
export function describeTlsFailure(err: unknown, server: string, caFile: string | undefined): string {
  const code = errCode(err);
  const what = err instanceof Error ? err.message : String(err);
  const head = `TLS connection to ${server} failed: ${what}${code && !what.includes(code) ? ` (${code})` : ''}`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') {
    return `${head}. The host name in url must be one the server's certificate names (its subjectAltName).`;
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return `${head}. The server's certificate is outside its validity period; renew it on the server.`;
  }
  if (isCertificateError(err)) {
    const against = caFile
      ? `the CA in caFile ${caFile}`
      : "Node's built-in list of public CAs (no caFile is set)";
    return `${head}. The server's certificate was checked against ${against}; set caFile to the PEM of the CA that issued the server's certificate.`;
  }
  return `${head}. Check that the port speaks ${server.startsWith('ldaps:') ? 'LDAPS (TLS from the first byte)' : 'LDAP with StartTLS'}.`;
}

const NET_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the server',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed by the server',
};

/**
 * A short reason for a failed operation, for an incomplete-read reason or a thrown message:
 * `size limit exceeded (4)`, `connection lost`, `timed out after 60000 ms (timeoutMs)`.
 */
export function describeLdapFailure(err: unknown, timeoutMs?: number): string {
  if (err instanceof ResultCodeError) return describeResultCode(err);
  const code = errCode(err);
  if (code && NET_REASONS[code]) return `${NET_REASONS[code]} (${code})`;
  const message = err instanceof Error ? err.message : String(err);
  if (/Operation timed out/i.test(message)) {
    return `no answer within ${timeoutMs ?? '?'} ms (timeoutMs); the connection was dropped`;
  }
  if (/Connection timeout/i.test(message)) return 'connection timed out (connectTimeoutMs)';
  if (
    /Connection closed before message response|Socket connection not established|Socket error/i.test(message)
  ) {
    return 'connection lost';
  }
  return message.split('\n')[0] ?? message;
}
